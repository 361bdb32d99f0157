from validate.launch import main

main()

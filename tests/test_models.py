import numpy as np
import pytest
from conftest import FEATURES, make_frame

from validate.errors import ModelError
from validate.models import normalize_scores, resolve_model
from validate.models.adapter import precomputed


def test_binary_shapes_normalise():
    two = np.array([[0.8, 0.2], [0.1, 0.9]])
    assert normalize_scores(two, task="binary", n_rows=2, who="m").tolist() == [0.2, 0.9]
    assert normalize_scores([[0.3], [0.4]], task="binary", n_rows=2, who="m").tolist() == [0.3, 0.4]


@pytest.mark.parametrize(
    ("raw", "task", "message"),
    [
        (np.ones((4, 3)) / 3, "binary", "shape (4, 3) for 4 rows; task 'binary' expects"),
        (np.ones(4), "multiclass", "task 'multiclass' expects (n, k)"),
        (np.ones(3), "binary", "shape (3,) for 4 rows"),
        (np.array([0.1, 2.0, 0.3, 0.4]), "binary", "must be probabilities in [0, 1]"),
        (np.array([0.1, np.nan, 0.3, 0.4]), "regression", "NaN or infinite"),
        (np.array(["a", "b", "c", "d"]), "binary", "not numeric"),
    ],
)
def test_wrong_outputs_are_model_errors(raw, task, message):
    with pytest.raises(
        ModelError,
        match=message.replace("(", r"\(")
        .replace(")", r"\)")
        .replace("[", r"\[")
        .replace("]", r"\]"),
    ):
        normalize_scores(raw, task=task, n_rows=4, who="model.candidate")


def test_missing_local_model(tmp_path):
    with pytest.raises(ModelError, match="no such file or folder"):
        resolve_model(str(tmp_path / "nope"), role="candidate", task="binary")


def test_unknown_local_model_kind(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ModelError, match="not a model this tool loads"):
        resolve_model(str(tmp_path / "notes.txt"), role="candidate", task="binary")


def test_unresolvable_registry_uri():
    with pytest.raises(
        ModelError, match=r"models:/ghost@champion does not resolve in the MLflow registry"
    ):
        resolve_model("models:/ghost@champion", role="baseline", task="binary")


def test_sklearn_mlflow_folder_gives_probabilities(models_dir):
    from sklearn.linear_model import LogisticRegression  # noqa: F401 - the model's own library

    frame = make_frame(50)
    ref = resolve_model(str(models_dir / "good"), role="candidate", task="binary")
    assert ref.kind == "mlflow"
    scores = ref.predict(frame, tuple(FEATURES))
    import mlflow.sklearn

    expected = mlflow.sklearn.load_model(str(models_dir / "good")).predict_proba(frame[FEATURES])[
        :, 1
    ]
    np.testing.assert_array_equal(scores, expected)


def test_model_uses_its_own_input_columns(models_dir):
    # The weak model was fitted on x3 only; data.features lists all three.
    frame = make_frame(20)
    ref = resolve_model(str(models_dir / "weak"), role="baseline", task="binary")
    assert ref.predict(frame, tuple(FEATURES)).shape == (20,)


def test_registered_model_is_pinned_to_a_version(models_dir):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_experiment("pinned")
    with mlflow.start_run():
        mlflow.log_artifacts(str(models_dir / "good"), "m")
        run_id = mlflow.active_run().info.run_id
    version = mlflow.register_model(f"runs:/{run_id}/m", "credit").version
    MlflowClient().set_registered_model_alias("credit", "champion", version)
    ref = resolve_model("models:/credit@champion", role="baseline", task="binary")
    assert ref.registry is not None and ref.registry.version == str(version)
    assert ref.location == f"models:/credit/{version}"
    assert ref.predict(make_frame(10), tuple(FEATURES)).shape == (10,)


def test_precomputed_column():
    frame = make_frame(30)
    ref = precomputed("score", role="candidate", task="binary")
    np.testing.assert_array_equal(ref.predict(frame, tuple(FEATURES)), frame["score"].to_numpy())


def test_model_ref_pickles_without_loaded_model(models_dir):
    import pickle

    ref = resolve_model(str(models_dir / "good"), role="candidate", task="binary")
    ref.predict(make_frame(5), tuple(FEATURES))
    clone = pickle.loads(pickle.dumps(ref))
    assert clone == ref and clone._loaded == []


@pytest.mark.tensorflow
def test_keras_file_and_savedmodel(tmp_path):
    pytest.importorskip("tf_keras")
    import tensorflow as tf
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential(
        [tf_keras.Input(shape=(3,)), tf_keras.layers.Dense(1, activation="sigmoid")]
    )
    frame = make_frame(40)
    expected = model.predict(frame[FEATURES].to_numpy(np.float32), verbose=0)[:, 0]
    model.save(tmp_path / "m.keras")
    keras_ref = resolve_model(str(tmp_path / "m.keras"), role="candidate", task="binary")
    assert keras_ref.kind == "keras"
    np.testing.assert_allclose(keras_ref.predict(frame, tuple(FEATURES)), expected, rtol=1e-6)

    class Plain(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
        def serve(self, x):
            return {"p": tf.sigmoid(tf.reduce_sum(x, axis=1))}

    plain = Plain()
    tf.saved_model.save(plain, str(tmp_path / "sm"), signatures={"serving_default": plain.serve})
    saved_ref = resolve_model(str(tmp_path / "sm"), role="candidate", task="binary")
    assert saved_ref.kind == "savedmodel"
    want = 1 / (1 + np.exp(-frame[FEATURES].to_numpy(np.float32).sum(axis=1)))
    np.testing.assert_allclose(saved_ref.predict(frame, tuple(FEATURES)), want, rtol=1e-5)


@pytest.mark.tensorflow
def test_corrupt_keras_file_is_a_model_error(tmp_path):
    pytest.importorskip("tf_keras")
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    ref = resolve_model(str(tmp_path / "broken.keras"), role="candidate", task="binary")
    with pytest.raises(ModelError, match="model.candidate: cannot load"):
        ref.predict(make_frame(5), tuple(FEATURES))


def test_a_bare_pickle_is_refused_with_the_command_that_makes_it_loadable(tmp_path):
    """Nothing is unpickled; the command in the message, run as given, makes a folder that
    loads and scores like the pickled estimator (issue 14 item 9)."""
    import re
    import subprocess
    import sys

    import joblib
    from sklearn.linear_model import LogisticRegression

    frame = make_frame(300, seed=2)
    estimator = LogisticRegression().fit(frame[FEATURES], frame["label"])
    pickled = tmp_path / "model.pkl"
    joblib.dump(estimator, pickled)

    with pytest.raises(ModelError) as caught:
        resolve_model(str(pickled), role="candidate", task="binary")
    message = str(caught.value)
    assert message.startswith(
        f"model.candidate: {pickled}: a bare pickle is not a model this tool loads (no flavour "
        "or signature, and promotion could not register it); save it once as an MLflow model "
        'folder and set model.candidate to that folder: python -c "'
    )
    assert message.endswith(
        "\" (for a scikit-learn estimator; unpickling runs the file's code, so only for files "
        "you trust: see SECURITY.md)"
    )
    (command,) = re.findall(r'python -c "([^"]+)"', message)
    done = subprocess.run([sys.executable, "-c", command], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "model-mlflow"
    ref = resolve_model(str(folder), role="candidate", task="binary")
    assert ref.kind == "mlflow"
    expected = estimator.predict_proba(frame[FEATURES])[:, 1]
    np.testing.assert_allclose(ref.predict(frame, tuple(FEATURES)), expected)


@pytest.mark.parametrize("suffix", [".pickle", ".joblib", ".PKL"])
def test_other_pickle_suffixes_get_the_same_advice(tmp_path, suffix):
    path = tmp_path / f"m{suffix}"
    path.write_bytes(b"\x80\x04not a pickle")
    with pytest.raises(ModelError, match="a bare pickle is not a model this tool loads"):
        resolve_model(str(path), role="baseline", task="binary")

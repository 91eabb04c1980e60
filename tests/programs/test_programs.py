"""Complete Keras programs, run unchanged but for their imports: real Keras 3 and unrolled agree.

The kinds of program people write around recurrent layers (see `scripts/`): text
classification with Conv1D and LSTM, keras.io's seq2seq with its inference rebuild, a Keras 1
script, a bAbI-style two-branch model, attention over LSTM outputs, CNN-LSTM on frames,
ConvLSTM2D next-frame prediction, BatchNormalization with GRUs, sequence tagging. Each runs in
real Keras 3 (torch backend) and in unrolled with the same weights (`program_runner`);
predictions, evaluations, loss histories and trained weights are compared to 1e-4.
"""

from __future__ import annotations

import re

import pytest
from program_runner import SCRIPTS, Program, assert_programs_agree, for_unrolled, run_both

pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
    # Keras differences: `save("name.keras")` writes unrolled's format and says so (once per
    # process); the programs save and load as Keras users write it.
    pytest.mark.filterwarnings("ignore:save.*unrolled's model format:UserWarning"),
]


# ----------------------------------------------------------------------------- the programs


@pytest.fixture(autouse=True)
def in_a_scratch_directory(tmp_path, monkeypatch):
    """Programs save files by bare name, as users do; they land in a scratch directory."""
    monkeypatch.chdir(tmp_path)


def test_only_the_import_lines_differ():
    """The harness's one edit touches import lines and nothing else."""
    for path in sorted(SCRIPTS.glob("*.py")):
        source = path.read_text()
        changed = [
            (a, b) for a, b in zip(source.splitlines(), for_unrolled(source).splitlines()) if a != b
        ]
        assert changed, f"{path.name} never imports keras"
        for before, after in changed:
            assert re.match(r"\s*(import|from) keras\b", before), before
            assert "unrolled" in after and "keras" not in after.replace("as keras", ""), after


def test_text_classification_with_conv1d_and_lstm():
    program = Program("text_classification", compare=("history", "score", "acc", "predictions"))
    assert_programs_agree(program, *run_both(program))


def test_seq2seq_with_the_keras_io_inference_rebuild():
    program = Program(
        "seq2seq",
        compare=(
            "history",
            "training_predictions",
            "first_step_probabilities",
            "decoded_sentences",
        ),
    )
    assert_programs_agree(program, *run_both(program))


def test_a_keras1_script_runs_and_predicts_as_its_keras3_spelling():
    """Dropout draws differ during training, so both sides get the same weights after it."""
    program = Program(
        "keras1_imdb_cnn_lstm",
        compare=("X_train", "score", "acc", "probabilities", "classes"),
        share_after="train",
        trained_weights_agree=False,
        keras3_script="keras3/keras1_imdb_cnn_lstm.py",
    )
    with pytest.warns(DeprecationWarning) as caught:
        ours, theirs = run_both(program)
    told = " ".join(str(w.message) for w in caught)
    for keras1, keras3 in [
        ("nb_filter", "filters"),
        ("dropout_W", "dropout"),
        ("nb_epoch", "epochs"),
    ]:
        assert keras1 in told and keras3 in told, (keras1, told)
    assert_programs_agree(program, ours, theirs)


BABI = {"name": "babi_two_branch", "compare": ("history", "loss", "acc", "answers")}


def test_babi_two_branch_functional_model_with_weights_copied_per_layer():
    program = Program(**BABI, by_layer=True)
    assert_programs_agree(program, *run_both(program))


def test_babi_two_branch_functional_model_with_the_whole_weight_list_copied():
    """`model.set_weights(keras_model.get_weights())`: needs Keras's depth order of layers."""
    program = Program(**BABI)
    assert_programs_agree(program, *run_both(program))


def test_self_attention_over_bidirectional_lstm_outputs():
    program = Program(
        "attention_classifier", compare=("history", "probabilities", "predicted_topics")
    )
    assert_programs_agree(program, *run_both(program))


def test_encoder_decoder_attention_over_lstm_outputs():
    program = Program(
        "attention_translation",
        compare=("history", "loss", "accuracy", "next_word_probabilities"),
    )
    assert_programs_agree(program, *run_both(program))


def test_cnn_lstm_on_frames_with_time_distributed_conv2d():
    program = Program("cnn_lstm_frames", compare=("history", "action_probabilities"))
    assert_programs_agree(program, *run_both(program))


def test_conv_lstm2d_next_frame_prediction():
    program = Program(
        "conv_lstm_next_frame",
        compare=("history", "new_prediction", "frames"),
        weight_scale=1.0,  # at 0.3 the stacked relu ConvLSTMs give near-constant frames
    )
    assert_programs_agree(program, *run_both(program))


def test_batch_normalization_and_gru_classifier():
    program = Program(
        "batchnorm_gru_classifier",
        compare=(
            "history",
            "test_loss",
            "test_accuracy",
            "activity_probabilities",
            "restored_probabilities",
        ),
    )
    assert_programs_agree(program, *run_both(program))


def test_sequence_tagging_with_a_masked_loss():
    program = Program("sequence_tagging", compare=("history", "loss", "accuracy", "predicted_tags"))
    assert_programs_agree(program, *run_both(program))


def test_transformer_block_over_lstm_outputs():
    """The residual `add` after MultiHeadAttention keeps the LSTM's mask, as in Keras's graph."""
    program = Program("transformer_block_over_lstm", compare=("history", "class_probabilities"))
    assert_programs_agree(program, *run_both(program))

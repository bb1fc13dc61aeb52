"""The full-stack pilot's action log and state digests, pinned: a speed-up must not change a result.

The values are those of the code before issue 20's speed work (integ of 2026-12-06); every arm on
two seeds. The gate's state hashes (full_stack, gate_only) were re-pinned once, deliberately, when the
gate's agent records gained the exam result and the operator token's digest (the operator's page,
issue 16): their action counts and action-log hashes did not move. A change that alters any action,
outcome, event order or state fails here with the arm and seed that moved.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flagship.sandbox import load_scenario, run

PILOT = Path(__file__).resolve().parent.parent / "examples" / "full_stack_pilot.toml"

# (arm, seed) -> (actions, action log sha256, state sha256)
PINNED: dict[tuple[str, int], tuple[int, str, str]] = {
    ("full_stack", 101): (8176, "7ac345fe00f0e5e43d5b8f506a9ce9c9310265b129e9a822978bedb4f3e02c1e",
        "31a6628cd575f4272468230b59b8fc0e85f4681232e8377aad5a24521e835ad3"),
    ("full_stack", 102): (8431, "980d2110e375cf6bce062f9e5e6f9efae440968b1ccf359b755b623abd764f01",
        "e6a5a9ed3716b7bb14a1cd16e3376609d9973274258d20fc5ebcff5d34e7c457"),
    ("gate_only", 101): (10130, "79857f2c8bf8fd4ce6c66cbf4672422aad33aa35108ee0bed5f576866fa06981",
        "d84d310244db3961e8d9e28018a84e7b43c04b91bca8ce3384db6d836ebd2dab"),
    ("gate_only", 102): (10401, "54dfa09d90c3fbf00595f3de89c4a03067683239ad349f8b5ddc5dd9f8def2c3",
        "09ad7a869de34ca629e7d2c1616e1392031e64edfaa6896da9f679b517672892"),
    ("neither", 101): (12443, "7d54dc0b70f7645cfcd9c6a3ea1dac05904fc1ca20642c9fab0c95aa9b043e1d",
        "5f48d9b86dd6f53fb217b4e4bacc204949bde6c84d9069fc4bcf8bb90cdacdd1"),
    ("neither", 102): (12967, "1a53bbc8fa8a8423024700a944f0c861fd5b3c16f0dc1129e422c6dd640e7749",
        "1d51e7ba868968ef241a0ee31f467e73da2e87ac88e190f1991c69a1569a196f"),
    ("regulator_only", 101): (9972, "8a0869669d3dfde6c08cc628abaddc1592cd53c1817b2961c8dba0cca0ebb7b2",
        "3382ad933374528dd6fbc24d2caae5905a2c180152da027ae10c53a111e5b853"),
    ("regulator_only", 102): (10367, "d2edb8c6b54a31a21dc6d6adf119a42138a884e731676b4b2ea4a29aaf605ea0",
        "e17797656f6148835e6e5e6b1438c7c4d5823353b0f84889148b299b785d9408"),
}


@pytest.mark.parametrize(("arm", "seed"), sorted(PINNED))
def test_the_pilot_reproduces_its_pinned_digests(arm: str, seed: int) -> None:
    result = run(load_scenario(PILOT).with_arm(arm), seed)
    assert (result.n_actions, result.action_log_sha256, result.state_sha256) == PINNED[(arm, seed)]

"""How a network variable reads model inputs into its states."""

import numpy as np
import pandas as pd

from mlops_assets.lib.modelling.discretize import MISSING, Variable

INPUTS = pd.DataFrame(
    {
        "amount": [5.0, 10.0, 10.5, 80.0, np.nan],
        "is_flagged": [0.0, 1.0, 0.0, 1.0, 0.0],
        "is_online": [0.0, 1.0, 0.0, 1.0, 0.0],
        "is_atm": [0.0, 0.0, 1.0, 1.0, 0.0],
    }
)


def test_a_number_falls_in_the_bin_of_its_cuts_and_a_missing_value_in_its_own_state() -> None:
    with_missing = Variable("amount", ("amount",), ("<=10", "10..50", ">50", MISSING), (10.0, 50.0))
    assert with_missing.read(INPUTS).tolist() == ["<=10", "<=10", "10..50", ">50", MISSING]
    # Without a missing state (training saw none), a missing value is a state the network lacks.
    without = Variable("amount", ("amount",), ("<=10", "10..50", ">50"), (10.0, 50.0))
    states = without.read(INPUTS)
    assert states.tolist()[-1] == MISSING and MISSING not in without.states


def test_a_flag_is_yes_or_no_and_a_group_is_its_first_input_set_or_its_default() -> None:
    flag = Variable("is_flagged", ("is_flagged",), ("no", "yes"))
    assert flag.read(INPUTS).tolist() == ["no", "yes", "no", "yes", "no"]
    channel = Variable("channel", ("is_online", "is_atm"), ("online", "atm", "pos"), default="pos")
    states = channel.read(INPUTS)
    assert states.tolist() == ["pos", "online", "atm", "online", "pos"]
    assert states.dtype == object and flag.read(INPUTS).dtype == object

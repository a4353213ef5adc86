"""dpedu.stats: the standard error, the Wilson interval and the Student-t interval."""

import math

import numpy as np
import pytest

from dpedu.stats import standard_error, t_interval, wilson_interval


def test_standard_error_is_s_over_root_n():
    assert standard_error([1.0, 2.0, 3.0, 4.0]) == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    assert math.isnan(standard_error([5.0]))
    with pytest.raises(ValueError, match="flat list"):
        standard_error([[1.0, 2.0]])


def test_wilson_interval_known_values_and_edges():
    lo, hi = wilson_interval(8, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)  # the textbook 95% Wilson interval for 8/10
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0
    assert wilson_interval(0, 20)[1] > 0.1  # unlike p +- z se, which collapses to [0, 0]
    with pytest.raises(ValueError, match=r"successes must be in 0..n \(10\), got 11"):
        wilson_interval(11, 10)


def test_t_interval_rejects_a_confidence_outside_0_1():
    assert t_interval([1.0, 2.0, 3.0], confidence=0.5)[1] < t_interval([1.0, 2.0, 3.0])[1]
    with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\), got 95"):
        t_interval([1.0, 2.0], confidence=95)

"""resolve_device: the device names a config allows, and a clear error for a device this machine lacks."""

import pytest
import torch

from dpedu.runtime.device import resolve_device


def test_auto_and_cpu():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_the_docstring_lists_every_name():
    for name in ('"auto"', '"cpu"', '"cuda"', '"cuda:N"', '"mps"'):
        assert name in resolve_device.__doc__


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
def test_mps_without_mps_is_refused():
    with pytest.raises(ValueError, match=r"device 'mps' asked for, but MPS .* is not available here"):
        resolve_device("mps")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_refused(name):
    with pytest.raises(ValueError, match=rf"device '{name}' asked for, but torch sees no CUDA device"):
        resolve_device(name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_cuda_index_past_the_last_device_is_refused():
    n = torch.cuda.device_count()
    assert resolve_device(f"cuda:{n - 1}").index == n - 1
    with pytest.raises(ValueError, match=rf"torch sees {n} CUDA device"):
        resolve_device(f"cuda:{n}")


@pytest.mark.parametrize("name", ["gpu", "meta", 3.5])
def test_other_names_are_refused(name):
    with pytest.raises(ValueError, match=r"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"):
        resolve_device(name)

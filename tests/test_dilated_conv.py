"""The dilated convolution's weight gradient from shifted matrix products
(se_mamba/nn/dilated_conv.py) against an explicit sum over positions and
taps in float64, and the modules that use it against nn.Conv2d."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from se_mamba.models.codec import DenseBlock
from se_mamba.nn.conv import DilatedConv2d, TimeCausalConv2d, conv_tf
from se_mamba.nn.dilated_conv import conv2d_weight_grad, dilated_conv2d


def weight_grad_reference(x, grad_out, kernel_size, padding, dilation):
    """sum over n, i, j of grad_out[n, :, i, j] x[n, :, i + a*dh - ph, j + b*dw - pw]^T,
    zero outside x, tap by tap."""
    n, c, h, w = x.shape
    ho, wo = grad_out.shape[2:]
    xp = F.pad(x, (padding[1], padding[1], padding[0], padding[0]))
    grad = torch.zeros(grad_out.shape[1], c, *kernel_size, dtype=x.dtype)
    for a in range(kernel_size[0]):
        for b in range(kernel_size[1]):
            win = xp[:, :, a * dilation[0]:a * dilation[0] + ho, b * dilation[1]:b * dilation[1] + wo]
            grad[:, :, a, b] = torch.einsum("noij,ncij->oc", grad_out, win)
    return grad


# kernel, dilation, padding (None: "same"), input height, width
CASES = [
    ((3, 3), (2, 1), None, 11, 7),
    ((3, 3), (8, 1), None, 13, 5),   # taps reaching past the whole input: skipped
    ((3, 3), (8, 1), None, 5, 9),
    ((3, 3), (4, 1), (8, 1), 9, 6),  # the causal layout: both ends padded by `left`
    ((3, 3), (1, 2), None, 6, 9),    # dilation in width: two-column wrap corrections
    ((3, 5), (2, 3), None, 7, 11),
    ((2, 3), (3, 1), (3, 1), 8, 4),
    ((3, 3), (2, 1), None, 6, 1),    # one column: the side taps see only padding
    ((1, 3), (1, 1), (0, 1), 4, 6),
]


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("kernel,dilation,padding,h,w", CASES)
def test_weight_grad_matches_the_sum_over_positions(batch, kernel, dilation, padding, h, w):
    if padding is None:
        padding = tuple((k - 1) * d // 2 for k, d in zip(kernel, dilation))
    g = torch.Generator().manual_seed(3)
    x = torch.randn(batch, 4, h, w, generator=g, dtype=torch.float64)
    ho = h + 2 * padding[0] - dilation[0] * (kernel[0] - 1)
    grad_out = torch.randn(batch, 5, ho, w, generator=g, dtype=torch.float64)
    got = conv2d_weight_grad(x, grad_out, kernel, padding, dilation)
    ref = weight_grad_reference(x, grad_out, kernel, padding, dilation)
    assert (got - ref).abs().max() <= 1e-12 * ref.abs().max()


def test_weight_grad_refuses_a_narrower_output():
    with pytest.raises(ValueError, match="as wide as the input"):
        conv2d_weight_grad(torch.zeros(1, 2, 4, 6), torch.zeros(1, 3, 4, 4), (3, 3), (1, 0), (1, 1))


def _twin(dilation):
    """A DilatedConv2d and an nn.Conv2d with the same weights, "same" padding."""
    ours = conv_tf(6, 4, (3, 3), dilation)
    plain = nn.Conv2d(6, 4, (3, 3), dilation=dilation, padding=dilation)  # 3x3: "same" padding = dilation
    plain.load_state_dict(ours.state_dict())
    return ours, plain


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
@pytest.mark.parametrize("dilation", [(2, 1), (8, 1)])
def test_module_matches_conv2d_values_and_gradients(dtype, tol, dilation):
    torch.manual_seed(0)
    ours, plain = (m.to(dtype) for m in _twin(dilation))
    assert isinstance(ours, DilatedConv2d)
    x = torch.randn(3, 6, 21, 10, dtype=dtype)
    gout = torch.randn(3, 4, 21, 10, dtype=dtype)
    grads = []
    for m in (ours, plain):
        xi = x.clone().requires_grad_()
        y = m(xi)
        grads.append([y, *torch.autograd.grad(y, (xi, m.weight, m.bias), gout)])
    # the forward is oneDNN's own, bit for bit; the gradients agree to rounding
    assert torch.equal(grads[0][0], grads[1][0])
    for a, b in zip(grads[0][1:], grads[1][1:]):
        assert (a - b).abs().max() <= tol * b.abs().max()
    assert "_DilatedConv2d" in type(ours(x.requires_grad_()).grad_fn).__name__


def test_module_gradcheck_with_frozen_and_free_inputs():
    torch.manual_seed(1)
    conv = conv_tf(3, 2, (3, 3), (2, 1)).double()
    x = torch.randn(2, 3, 7, 5, dtype=torch.float64, requires_grad=True)
    # finite differences of the whole function, every input
    assert torch.autograd.gradcheck(lambda x, w, b: dilated_conv2d(x, w, b, (2, 1), (2, 1)),
                                    (x, conv.weight, conv.bias))
    conv.weight.requires_grad_(False)
    y = conv(x)  # frozen weights: the plain convolution, input gradient only
    assert "_DilatedConv2d" not in type(y.grad_fn).__name__
    with torch.no_grad():
        assert conv(x).grad_fn is None


def test_causal_conv_offline_gradients_match_conv2d():
    torch.manual_seed(2)
    causal = TimeCausalConv2d(5, 3, (3, 3), dilation=(4, 1)).double()
    x = torch.randn(2, 5, 17, 8, dtype=torch.float64, requires_grad=True)
    y = causal(x)
    assert "_DilatedConv2d" in type(y.grad_fn.next_functions[0][0]).__name__  # under the narrow
    ref = F.conv2d(F.pad(x, (1, 1, 8, 0)), causal.weight, causal.bias, dilation=(4, 1))
    assert torch.allclose(y, ref, rtol=0, atol=1e-12)
    gout = torch.randn_like(y)
    got = torch.autograd.grad(y, (x, causal.weight, causal.bias), gout)
    want = torch.autograd.grad(ref, (x, causal.weight, causal.bias), gout)
    for a, b in zip(got, want):
        assert (a - b).abs().max() <= 1e-12 * b.abs().max()


def test_dense_block_trains_through_the_flat_shift_gradient_with_unchanged_names():
    block = DenseBlock(channels=4, depth=4)
    kinds = [type(layer[0]) for layer in block.dense_block]
    assert kinds == [nn.Conv2d, DilatedConv2d, DilatedConv2d, DilatedConv2d]
    assert sorted(block.state_dict()) == sorted(
        f"dense_block.{i}.{p}" for i in range(4)
        for p in ("0.weight", "0.bias", "1.weight", "1.bias", "2.weight"))

"""Block-wise streaming along time for causal networks.

A causal network can process a sequence of frames in consecutive blocks and
give the same output as one call on the whole sequence, provided each module
whose output at frame t reads earlier frames carries what it needs from one
call to the next. Those modules keep that carry in the :class:`StreamState`
that is active during the call; without one they run offline, unchanged:

    state = StreamState()
    with state:
        out_a = net(block_a)     # frames 0 .. 9
        out_b = net(block_b)     # frames 10 .. 19: == net(whole)[..., 10:20, :]

The state is a plain dict keyed by module, so several streams can share one
model (each with its own state) and a model holds no hidden stream of its own.

Modules that carry state: time-causal convolutions (the last ``left`` input
frames, zeros at the start, which is what the offline left padding gives),
strided time convolutions (the frames not yet consumed), causal Mamba blocks
(:class:`~se_mamba.nn.mamba.MambaState` per layer) and causal LSTMs.
Everything else in our causal models acts inside one frame.
"""
import contextvars

import torch

_ACTIVE = contextvars.ContextVar("se_mamba_stream_state", default=None)


class StreamState(dict):
    """The carry of every stateful module of one stream (module -> carry)."""

    def __enter__(self):
        self._tokens = getattr(self, "_tokens", []) + [_ACTIVE.set(self)]
        return self

    def __exit__(self, *exc):
        _ACTIVE.reset(self._tokens.pop())
        return False


def active_stream():
    """The :class:`StreamState` of the current call, or None (offline)."""
    return _ACTIVE.get()


def time_left_context(module, x, left, dim):
    """``x`` with ``left`` frames of context prepended along ``dim``.

    Offline: zeros (causal left padding). Streaming: the last ``left`` frames
    of the previous calls (zeros before the first), and the carry is updated.

    >>> x = torch.arange(6.).view(1, 1, 6)
    >>> state, key = StreamState(), object()
    >>> with state:
    ...     a = time_left_context(key, x[..., :4], 2, dim=-1)
    ...     b = time_left_context(key, x[..., 4:], 2, dim=-1)
    >>> a.tolist(), b.tolist()
    ([[[0.0, 0.0, 0.0, 1.0, 2.0, 3.0]]], [[[2.0, 3.0, 4.0, 5.0]]])
    """
    if left == 0:
        return x
    state = active_stream()
    if state is None or module not in state:
        shape = list(x.shape)
        shape[dim] = left
        ctx = x.new_zeros(shape)
    else:
        ctx = state[module]
    xp = torch.cat([ctx, x], dim=dim)
    if state is not None:
        state[module] = xp.narrow(dim, xp.shape[dim] - left, left)
    return xp


def strided_time_input(module, x, kernel, stride, left, dim):
    """Streaming input of a time convolution with ``stride`` over frames: the
    frames not yet consumed by earlier calls (``left`` zero frames before the
    first call) followed by ``x``, cut to whole windows; the rest waits for
    the next call. Returns no frames when no window is complete yet.

    >>> x = torch.arange(5.).view(1, 5)
    >>> with StreamState():
    ...     a = strided_time_input("conv", x[:, :2], kernel=2, stride=2, left=1, dim=1)
    ...     b = strided_time_input("conv", x[:, 2:], kernel=2, stride=2, left=1, dim=1)
    >>> a.tolist(), b.tolist()
    ([[0.0, 0.0]], [[1.0, 2.0, 3.0, 4.0]])
    """
    state = active_stream()
    if state is None:
        raise RuntimeError("strided_time_input needs an active StreamState")
    if module in state:
        xp = torch.cat([state[module], x], dim=dim)
    else:
        shape = list(x.shape)
        shape[dim] = left
        xp = torch.cat([x.new_zeros(shape), x], dim=dim)
    n = xp.shape[dim]
    n_out = (n - kernel) // stride + 1 if n >= kernel else 0
    used = n_out * stride
    state[module] = xp.narrow(dim, used, n - used)
    return xp.narrow(dim, 0, used + (kernel - stride) if n_out else 0)


def frame_queue(module, produced, needed, dim):
    """Streaming: frames computed ahead of their time (a transposed strided
    conv writes ``stride`` frames at once) wait here until ``needed`` frames
    are asked for. Offline: the first ``needed`` frames of ``produced``."""
    state = active_stream()
    if state is None:
        return produced.narrow(dim, 0, needed)
    if module in state:
        produced = torch.cat([state[module], produced], dim=dim)
    if produced.shape[dim] < needed:
        raise RuntimeError(f"stream underflow: {needed} frames asked, {produced.shape[dim]} ready")
    state[module] = produced.narrow(dim, needed, produced.shape[dim] - needed)
    return produced.narrow(dim, 0, needed)

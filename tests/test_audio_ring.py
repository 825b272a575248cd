"""RingBuffer: exact ordering, wrap-around, zero padding, mixdown, no allocation, and a live writer thread."""

import threading
import tracemalloc

import numpy as np
import pytest

from livecppn.audio.ring import RingBuffer


def ramp(start, stop):
    return np.arange(start, stop, dtype=np.float32)


def test_latest_returns_newest_frames_oldest_first():
    ring = RingBuffer(8)
    ring.write(ramp(1, 6))  # 1..5
    np.testing.assert_array_equal(ring.latest(5), ramp(1, 6))
    np.testing.assert_array_equal(ring.latest(3), [3, 4, 5])
    assert ring.frames_written == 5


def test_latest_zero_pads_at_the_front_when_young():
    ring = RingBuffer(8)
    np.testing.assert_array_equal(ring.latest(4), np.zeros(4))
    ring.write(ramp(1, 4))
    np.testing.assert_array_equal(ring.latest(6), [0, 0, 0, 1, 2, 3])


def test_wraps_around_and_pads_beyond_capacity():
    ring = RingBuffer(8)
    ring.write(ramp(1, 7))  # 1..6
    ring.write(ramp(7, 12))  # 7..11, wraps past the end of the buffer
    np.testing.assert_array_equal(ring.latest(8), ramp(4, 12))
    np.testing.assert_array_equal(ring.latest(5), ramp(7, 12))
    # More than the capacity was asked for: the part the ring cannot hold reads as zeros.
    np.testing.assert_array_equal(ring.latest(10), np.concatenate([[0, 0], ramp(4, 12)]))
    assert ring.frames_written == 11


def test_block_longer_than_capacity_keeps_its_newest_frames():
    ring = RingBuffer(8)
    ring.write(ramp(1, 3))
    ring.write(ramp(3, 21))  # 18 frames into an 8-frame ring
    np.testing.assert_array_equal(ring.latest(8), ramp(13, 21))
    assert ring.frames_written == 20


def test_many_small_writes_match_one_big_signal():
    rng = np.random.default_rng(1)
    signal = rng.standard_normal(5000).astype(np.float32)
    ring = RingBuffer(1000)
    i = 0
    while i < len(signal):
        n = min(int(rng.integers(1, 300)), len(signal) - i)
        ring.write(signal[i:i + n])
        i += n
        np.testing.assert_array_equal(ring.latest(min(i, 1000)), signal[max(0, i - 1000):i])


def test_stereo_is_mixed_down_to_mono():
    ring = RingBuffer(16, channels=2)
    left, right = ramp(0, 6), ramp(0, 6) * -3 + 1
    ring.write(np.stack([left, right], axis=1))  # (n, 2)
    np.testing.assert_allclose(ring.latest(6), (left + right) / 2)
    # Interleaved L R L R ... is the same frames.
    ring2 = RingBuffer(16, channels=2)
    ring2.write(np.stack([left, right], axis=1).reshape(-1))
    np.testing.assert_array_equal(ring2.latest(6), ring.latest(6))
    assert ring.frames_written == ring2.frames_written == 6


def test_more_than_two_channels_are_averaged():
    ring = RingBuffer(4, channels=4)
    ring.write(np.array([[1, 2, 3, 6], [4, 4, 4, 4]], dtype=np.float32))
    np.testing.assert_allclose(ring.latest(3), [0, 3, 4])


def test_out_buffer_is_filled_and_returned():
    ring = RingBuffer(8)
    ring.write(ramp(1, 4))
    out = np.full(5, 99, dtype=np.float32)
    assert ring.latest(5, out=out) is out
    np.testing.assert_array_equal(out, [0, 0, 1, 2, 3])
    with pytest.raises(ValueError):
        ring.latest(5, out=np.zeros(4, dtype=np.float32))
    with pytest.raises(ValueError):
        ring.latest(5, out=np.zeros(5, dtype=np.float64))


def test_rejects_blocks_that_do_not_fit_the_channel_layout():
    ring = RingBuffer(8, channels=2)
    with pytest.raises(ValueError):
        ring.write(np.zeros(3, dtype=np.float32))  # not whole stereo frames
    with pytest.raises(ValueError):
        ring.write(np.zeros((4, 3), dtype=np.float32))
    with pytest.raises(ValueError):
        RingBuffer(0)


def test_write_and_latest_with_out_do_not_allocate_buffers():
    # The audio callback must not allocate; numpy reports its buffers to tracemalloc.
    ring = RingBuffer(48000, channels=2)
    block = np.ones(256 * 2, dtype=np.float32)  # one interleaved PortAudio block
    out = np.empty(2048, dtype=np.float32)
    for _ in range(10):  # warm up anything lazily created
        ring.write(block)
        ring.latest(2048, out=out)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for _ in range(500):
            ring.write(block)
            ring.latest(2048, out=out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < block.nbytes // 2, f"write/latest allocated up to {peak} bytes"


def test_concurrent_writer_and_reader_see_consistent_monotonic_data():
    # Writer: a ramp in blocks of varying size on its own thread. Reader: every window it sees
    # must be one contiguous stretch of the ramp (no torn copies), and never go back in time.
    ring = RingBuffer(4096, channels=2)
    total = 400_000  # float32 is exact for these integers
    done = threading.Event()

    def writer():
        rng = np.random.default_rng(7)
        i = 0
        while i < total:
            n = int(min(rng.integers(1, 700), total - i))
            values = ramp(i + 1, i + n + 1)
            ring.write(np.stack([values, values], axis=1))  # both channels equal: the mixdown is the ramp
            i += n
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    last_newest, reads = 0.0, 0
    out = np.empty(1024, dtype=np.float32)
    try:
        while not done.is_set() or reads < 10:
            written_before = ring.frames_written
            window = ring.latest(1024, out=out)
            newest = window[-1]
            valid = window[window > 0]
            if len(valid):
                assert np.all(np.diff(valid) == 1), "torn read: window is not one contiguous stretch"
                assert len(valid) == min(1024, int(newest))  # padding only where nothing was written
            assert newest >= last_newest, "reader went back in time"
            assert newest >= written_before  # what was written before the read is visible in it
            last_newest = newest
            reads += 1
    finally:
        thread.join()
    assert reads >= 10  # the loop reads until the writer is done and at least 10 times
    assert ring.frames_written == total
    np.testing.assert_array_equal(ring.latest(1024), ramp(total - 1023, total + 1))


# --- read by position ----------------------------------------------------------------------------

def test_read_by_position_returns_exact_frames():
    ring = RingBuffer(8)
    ring.write(ramp(0, 6))  # frames 0..5 hold the values 0..5
    np.testing.assert_array_equal(ring.read(0, 6), ramp(0, 6))
    np.testing.assert_array_equal(ring.read(2, 3), [2, 3, 4])
    assert len(ring.read(6, 0)) == 0  # nothing new yet: an empty read, not an error
    assert ring.oldest == 0


def test_read_across_the_wrap_and_in_pieces_sees_every_frame_once():
    rng = np.random.default_rng(3)
    signal = rng.standard_normal(3000).astype(np.float32)
    ring = RingBuffer(500)
    got, pos, i = [], 0, 0
    while i < len(signal):
        n = min(int(rng.integers(1, 200)), len(signal) - i)
        ring.write(signal[i:i + n])
        i += n
        if rng.random() < 0.6:  # the reader comes by now and then, never more than a ring behind
            got.append(ring.read(pos, ring.frames_written - pos).copy())
            pos = ring.frames_written
    got.append(ring.read(pos, ring.frames_written - pos))
    np.testing.assert_array_equal(np.concatenate(got), signal)


def test_read_of_overwritten_frames_returns_what_is_left():
    ring = RingBuffer(8)
    ring.write(ramp(0, 20))  # frames 0..19; only 12..19 are still held
    assert ring.oldest == 12
    out = np.full(10, -1, dtype=np.float32)
    got = ring.read(5, 10, out=out)  # frames 5..14: 5..11 are gone
    np.testing.assert_array_equal(got, [12, 13, 14])
    assert len(got) == 10 - (ring.oldest - 5)  # the caller learns it skipped 7 frames
    assert np.shares_memory(got, out)
    np.testing.assert_array_equal(ring.read(12, 8), ramp(12, 20))


def test_read_keeps_positions_after_a_block_longer_than_the_ring():
    ring = RingBuffer(8)
    ring.write(ramp(0, 3))
    ring.write(ramp(3, 21))  # 18 frames into an 8-frame ring: frames 13..20 remain
    np.testing.assert_array_equal(ring.read(13, 8), ramp(13, 21))
    ring.write(ramp(21, 24))
    np.testing.assert_array_equal(ring.read(16, 8), ramp(16, 24))
    np.testing.assert_array_equal(ring.latest(8), ramp(16, 24))


def test_read_of_the_future_or_bad_arguments_is_an_error():
    ring = RingBuffer(8)
    ring.write(ramp(0, 4))
    with pytest.raises(ValueError, match="written"):
        ring.read(2, 3)  # frame 4 does not exist yet
    with pytest.raises(ValueError):
        ring.read(-1, 2)
    with pytest.raises(ValueError):
        ring.read(0, 4, out=np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError):
        ring.read(0, 4, out=np.zeros(4, dtype=np.float64))


def test_read_mixes_stereo_down_like_latest():
    ring = RingBuffer(16, channels=2)
    frames = np.stack([ramp(0, 10), ramp(0, 10) * 3], axis=1)
    ring.write(frames)
    np.testing.assert_allclose(ring.read(4, 6), ramp(4, 10) * 2)
    np.testing.assert_array_equal(ring.read(4, 6), ring.latest(6))


def test_read_with_out_does_not_allocate_buffers():
    ring = RingBuffer(48000, channels=2)
    block = np.ones(256 * 2, dtype=np.float32)
    out = np.empty(4096, dtype=np.float32)
    pos = 0
    for _ in range(10):
        ring.write(block)
        ring.read(pos, ring.frames_written - pos, out=out)
        pos = ring.frames_written
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for _ in range(500):
            ring.write(block)
            ring.read(pos, ring.frames_written - pos, out=out)
            pos = ring.frames_written
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < block.nbytes // 2, f"read allocated up to {peak} bytes"


def test_concurrent_reader_by_position_sees_every_frame_once_or_counts_the_loss():
    # A writer thread streams a ramp; the reader reads by position: what it gets plus what it
    # was told it missed must account for every frame, in order, with no torn copies.
    ring = RingBuffer(2048)
    total = 300_000
    done = threading.Event()

    def writer():
        rng = np.random.default_rng(11)
        i = 0
        while i < total:
            n = int(min(rng.integers(1, 600), total - i))
            ring.write(ramp(i, i + n))
            i += n
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    pos, missed, seen = 0, 0, 0
    out = np.empty(total, dtype=np.float32)
    try:
        while not done.is_set() or pos < ring.frames_written:
            n = ring.frames_written - pos
            got = ring.read(pos, n, out=out[:max(n, 0)])
            skipped = n - len(got)
            if len(got):
                expected_first = pos + skipped
                assert got[0] == expected_first and np.all(np.diff(got) == 1), "torn or misplaced read"
            missed += skipped
            seen += len(got)
            pos += n
    finally:
        thread.join()
    assert seen + missed == total

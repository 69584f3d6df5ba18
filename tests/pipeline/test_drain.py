"""DrainOnSignal: the first signal drains, a second one or the drain deadline forces."""

import signal
import threading
import time

from pipeline.drain import DrainOnSignal, forced_status


def test_first_signal_stops_the_inputs_a_second_forces_with_128_plus_the_signal(capsys):
    stops, exits = [], []
    drain = DrainOnSignal(30, stop=lambda: stops.append(1), exit=exits.append)
    drain.handle(signal.SIGTERM)
    assert stops == [1] and exits == [] and drain.draining
    drain.handle(signal.SIGINT)
    assert exits == [forced_status(signal.SIGINT)] == [130]
    err = capsys.readouterr().err
    assert "SIGTERM: draining" in err and "second SIGINT" in err and "Traceback" not in err
    drain.__exit__(None, None, None)


def test_a_drain_over_the_deadline_is_forced(capsys):
    exits = []
    done = threading.Event()
    drain = DrainOnSignal(0.1, stop=lambda: None, exit=lambda code: (exits.append(code), done.set()))
    drain.handle(signal.SIGTERM)
    assert done.wait(5) and exits == [143]
    assert "did not finish within 0.1 s" in capsys.readouterr().err


def test_handlers_are_installed_and_put_back():
    before = signal.getsignal(signal.SIGTERM)
    with DrainOnSignal(30, stop=lambda: None, exit=lambda code: None) as drain:
        assert signal.getsignal(signal.SIGTERM) == drain.handle
        started = time.monotonic()
    assert signal.getsignal(signal.SIGTERM) == before and time.monotonic() - started < 1

"""Object lifetimes and threads: closing, use after close, and many threads on one store."""

import gc
import threading

import fieldcase_ffi as fc
import pytest
from helpers import T0, new_case, register


def test_close_then_use_fails_cleanly_and_the_file_reopens(tmp_path):
    path = str(tmp_path / "phone.db")
    s = fc.FieldcaseStore.open(path, fc.StoreOptions(device_id="phone-a", plain_store_for_tests=True))
    party = register(s)
    case = s.create_case(new_case(s, party.id))
    s.close_store()
    with pytest.raises(fc.FieldcaseError.StoreClosed):
        s.get_case(case.id)
    with pytest.raises(fc.FieldcaseError.StoreClosed):
        s.open_cases(None, 10)
    s.close_store()  # twice is harmless
    del s
    gc.collect()

    again = fc.FieldcaseStore.open(path, fc.StoreOptions(device_id="phone-a", plain_store_for_tests=True))
    assert again.get_case(case.id).id == case.id
    # The per-store party key was kept: the same person matches.
    assert register(again).id == party.id
    again.close_store()


def test_dropping_without_close_releases_the_store(tmp_path):
    path = str(tmp_path / "phone.db")
    for _ in range(20):
        s = fc.FieldcaseStore.open(path, fc.StoreOptions(device_id="phone-a", plain_store_for_tests=True))
        s.open_cases(None, 1)
        del s
        gc.collect()
    s = fc.FieldcaseStore.open(path, fc.StoreOptions(device_id="phone-a", plain_store_for_tests=True))
    assert s.integrity_check() == "ok"
    s.close_store()


def test_threads_hammering_one_store(store):
    party = register(store)
    errors = []
    created = []
    lock = threading.Lock()

    def worker(n):
        try:
            for i in range(10):
                c = store.create_case(new_case(store, party.id, at=T0 + n * 1000 + i))
                store.add_note(c.id, "OF-1001", T0 + 5000, f"note {n}-{i}")
                store.open_cases(None, 100)
                store.party_history(party.id)
                assert len(store.get_case(c.id).notes) == 1
                with lock:
                    created.append(c.id)
        except Exception as e:  # collected and reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(created)) == 80
    assert len(store.open_cases(None, 1000)) == 80
    assert store.integrity_check() == "ok"


def test_closing_while_threads_work_ends_each_call_cleanly(store):
    party = register(store)
    outcomes = []
    started = threading.Barrier(5)

    def worker():
        started.wait()
        while True:
            try:
                store.create_case(new_case(store, party.id))
                store.open_cases(None, 5)
            except fc.FieldcaseError.StoreClosed:
                outcomes.append("closed")
                return
            except Exception as e:
                outcomes.append(e)
                return

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait()
    store.close_store()
    for t in threads:
        t.join(timeout=60)
    assert outcomes == ["closed"] * 4

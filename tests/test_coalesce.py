"""Concurrent small requests are scored together, with the scores each would get alone."""

import asyncio

import numpy as np
import pytest

from app.coalesce import MAX_BATCH_TEXTS, ScoreCoalescer

TEXTS = ["Sanctions hit the banks.", "Импортозамещение в станкостроении идёт быстрее плана.",
         "The first satellite flew while the country was under embargo.", "Wheat exports rose 4%."]


def test_calls_in_one_loop_turn_share_one_scoring_call(model):
    calls = []

    def score(texts):
        calls.append(len(texts))
        return model.predict_proba(texts)

    coalescer = ScoreCoalescer(score)

    async def main():
        return await asyncio.gather(*(coalescer.predict_proba([t]) for t in TEXTS),
                                    coalescer.predict_proba(TEXTS[:2]))

    results = asyncio.run(main())
    assert calls == [len(TEXTS) + 2]
    for text, got in zip(TEXTS, results):
        np.testing.assert_allclose(got, model.predict_proba([text]), rtol=0, atol=1e-9)
    np.testing.assert_allclose(results[-1], model.predict_proba(TEXTS[:2]), rtol=0, atol=1e-9)


def test_calls_in_later_turns_are_not_held_back(model):
    calls = []
    coalescer = ScoreCoalescer(lambda texts: calls.append(len(texts)) or model.predict_proba(texts))

    async def main():
        first = await coalescer.predict_proba(TEXTS[:1])
        second = await coalescer.predict_proba(TEXTS[1:3])
        return first, second

    first, second = asyncio.run(main())
    assert calls == [1, 2] and first.shape == (1, 3) and second.shape == (2, 3)


def test_a_failure_reaches_every_waiting_caller_and_the_next_turn_works(model):
    failing = {"on": True}

    def score(texts):
        if failing["on"]:
            raise RuntimeError("scorer broke")
        return model.predict_proba(texts)

    coalescer = ScoreCoalescer(score)

    async def main():
        outcomes = await asyncio.gather(*(coalescer.predict_proba([t]) for t in TEXTS), return_exceptions=True)
        failing["on"] = False
        return outcomes, await coalescer.predict_proba(TEXTS[:1])

    outcomes, after = asyncio.run(main())
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert after.shape == (1, 3)


def test_a_cancelled_caller_does_not_disturb_the_others(model):
    coalescer = ScoreCoalescer(model.predict_proba)

    async def main():
        doomed = asyncio.ensure_future(coalescer.predict_proba(TEXTS[:1]))
        kept = asyncio.ensure_future(coalescer.predict_proba(TEXTS[1:2]))
        await asyncio.sleep(0)  # both are now waiting for the flush
        doomed.cancel()
        return await kept, doomed

    kept, doomed = asyncio.run(main())
    assert doomed.cancelled()
    np.testing.assert_allclose(kept, model.predict_proba(TEXTS[1:2]), rtol=0, atol=1e-9)


def test_a_large_flush_is_split_into_bounded_calls(model):
    sizes = []
    coalescer = ScoreCoalescer(lambda texts: sizes.append(len(texts)) or np.zeros((len(texts), 3)))

    async def main():
        return await asyncio.gather(*(coalescer.predict_proba(["x"] * 300) for _ in range(7)))

    results = asyncio.run(main())
    assert sum(sizes) == 2100 and max(sizes) <= MAX_BATCH_TEXTS and len(sizes) == 3
    assert [r.shape for r in results] == [(300, 3)] * 7


@pytest.mark.parametrize("explain", [False, True])
def test_concurrent_requests_on_a_real_server_get_their_own_scores(server, model, explain):
    import httpx

    paragraphs = TEXTS * 4

    async def main():
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            return await asyncio.gather(*(client.post("/v1/classify", json={"text": p, "explain": explain})
                                          for p in paragraphs))

    responses = asyncio.run(main())
    assert all(r.status_code == 200 for r in responses)
    expected = model.predict_proba(paragraphs)
    for r, p, want in zip(responses, paragraphs, expected):
        (para,) = r.json()["paragraphs"]
        assert para["text"] == p
        np.testing.assert_allclose([para["scores"][l] for l in model.labels], want, rtol=0, atol=1e-9)

"""Best-of-N reranking through the OpenRLHF reward endpoint, scored against the human rankings.

Best-of-N is how RL pipelines often use a reward model: sample N completions, keep the one the reward
model scores highest. This script does exactly that with a project's served model, on prompts the model
was not trained on, and counts how often its pick is one the humans ranked first::

    TOKEN=...   # a staff token (docs/api.md); the demo's admin works after `make up`
    .venv/bin/python examples/best_of_n.py --url http://127.0.0.1:8000 --project 1 --token $TOKEN

1. Reads the active model version and its training run (``GET /projects/{id}/models``,
   ``GET /training-runs/{run}``) for the run's split (``seed``, ``eval_fraction``).
2. Downloads the project's rankings (``GET /projects/{id}/export?format=rankings``) and keeps the
   held-out side of the trainer's own split (``rewardtrain.core.data.split_by_prompt``): prompts the
   model never saw.
3. For each held-out ranking, sends its N ranked completions to ``POST /projects/{id}/get_reward`` in
   OpenRLHF's payload (``{"query": [prompt + response, ...], "prompts": [...]}``), the prompt rendered as
   ``User: ...\\n\\nAssistant: `` the way the ``trl`` export renders it.
4. Prints one JSON line: the best-of-N win rate (the model's pick is in the humans' top group; a tie
   for the highest reward counts the share of tied picks that are), beside picking the longest
   completion and picking at random (its expected value), with the counts and the version that answered.

Only the standard library and ``rewardtrain.core`` (no Django, no torch) are used, so it runs from any
checkout against any RankForge server.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rewardtrain.core.data import RankedRecord, split_by_prompt  # noqa: E402
from rewardtrain.core.evaluate import best_of_k  # noqa: E402

ROLE_LABELS = {"user": "User", "assistant": "Assistant", "system": "System"}


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.base = url.rstrip("/") + "/api/v1"
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def request(self, method: str, path: str, payload: dict | None = None) -> bytes:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=self.headers)
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.read()

    def get(self, path: str) -> Any:
        return json.loads(self.request("GET", path))

    def post(self, path: str, payload: dict) -> Any:
        return json.loads(self.request("POST", path, payload))


def render_query(record: RankedRecord, completion: str) -> str:
    """The full text an RL policy would send: the conversation, then the response."""
    history = "".join(f"{ROLE_LABELS[turn['role']]}: {turn['text']}\n\n" for turn in record.context)
    return f"{history}User: {record.prompt}\n\nAssistant: {completion}"


def held_out_rankings(api: Api, project: int) -> tuple[list[RankedRecord], dict[str, Any]]:
    """The project's rankings on the held-out side of the active model's training split."""
    versions = api.get(f"/projects/{project}/models?limit=100")
    active = next((version for version in versions["results"] if version["is_active"]), None)
    if active is None:
        raise SystemExit(f"project {project} has no active model version: train one first")
    config = api.get(f"/training-runs/{active['run']}")["config"] if active["run"] else {}
    seed, eval_fraction = int(config.get("seed", 0)), float(config.get("eval_fraction", 0.2))
    lines = api.request("GET", f"/projects/{project}/export?format=rankings").decode().splitlines()
    records = []
    for line in filter(None, lines):
        item = json.loads(line)
        records.append(
            RankedRecord(
                prompt=item["prompt"],
                completions=item["completions"],
                order=item["order"],
                context=item["context"] or [],
                id=item["id"],
            )  # fmt: skip
        )
    _, held_out = split_by_prompt(records, eval_fraction, seed)
    return held_out, {"active_version": active["version"], "seed": seed, "eval_fraction": eval_fraction}


def best_of_n(api: Api, project: int, records: list[RankedRecord], texts_per_request: int = 64) -> dict[str, Any]:
    """Rerank each record's completions with /get_reward; the win rates over the records."""
    picks: list[tuple[float, float, float]] = []
    versions: set[int] = set()
    batch: list[RankedRecord] = []

    def flush() -> None:
        queries = [render_query(record, text) for record in batch for text in record.completions]
        prompts = [record.prompt for record in batch for _ in record.completions]
        answer = api.post(f"/projects/{project}/get_reward", {"query": queries, "prompts": prompts})
        versions.add(answer.get("model_version"))
        rewards = iter(answer["rewards"])
        for record in batch:
            result = best_of_k(record, [next(rewards) for _ in record.completions])
            if result is not None:
                picks.append(result)
        batch.clear()

    for record in records:
        if batch and sum(len(r.completions) for r in batch) + len(record.completions) > texts_per_request:
            flush()
        batch.append(record)
    if batch:
        flush()

    def rate(way: int) -> float | None:
        return round(sum(pick[way] for pick in picks) / len(picks), 4) if picks else None

    return {
        "rankings": len(picks),
        "best_of_n_win_rate": rate(0),
        "longest_win_rate": rate(1),
        "random_win_rate": rate(2),
        "answered_by_versions": sorted(v for v in versions if v is not None),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the RankForge server")
    parser.add_argument("--project", type=int, default=1)
    parser.add_argument("--token", default=os.environ.get("RANKFORGE_TOKEN"), help="staff token (or RANKFORGE_TOKEN)")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("--token (or RANKFORGE_TOKEN) is required: a staff account's API token")
    api = Api(args.url, args.token)
    records, split = held_out_rankings(api, args.project)
    result = {"project": args.project, **split, "held_out_prompts": len({r.prompt_key() for r in records})}
    result.update(best_of_n(api, args.project, records))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()

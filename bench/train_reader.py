"""Train the reader: all-MiniLM-L6-v2's encoder (the embedding model the project ships) with a span head, on
SQuAD v1.1 without XQuAD's paragraphs, plus no-answer pairs. Seeded and resumable.

    .venv/bin/python -m bench.train_reader --work /tmp/reader-train --max-steps 480

The shipped weights came from a run whose length was cut twice while it ran, to fit a shared machine: planned as
one pass (929 steps), resumed at step 280 with ``--max-steps 600`` and at step 320 with ``--max-steps 480``; the
learning rate's linear decay was stretched to the new end each time, so ``--max-steps 480`` from the start follows
a slightly different curve to the same end.

Checkpoints go to ``--work`` every ``--save-every`` steps (safetensors and a JSON state, never pickle); run the same
command again to resume where it stopped. At the end the encoder's layers and the head are written in float16 to
``assistant/reader/weights/`` with a manifest (the base model's weights hash, the file's sha256, the training
figures). The token embeddings are frozen and not shipped: they are the packaged model's own, read from it at load.
Check the result with ``python -m bench.reader_squad``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

from bench import squad
from bench.harness import REPO

WEIGHTS = REPO / "assistant" / "reader" / "weights"


def _labels(windows: Any, example: squad.Example) -> list[tuple[int, int]]:
    """(start token, end token) of the answer in each window; (0, 0), the [CLS] token, where it is not whole."""
    labels = []
    for row in range(len(windows.input_ids)):
        label = (0, 0)
        if example.answers:
            text, begin = example.answers[0]
            end = begin + len(text)
            offsets = windows.offsets[row]
            inside = [t for t in range(len(offsets)) if offsets[t][0] >= 0]
            if inside and offsets[inside[0]][0] <= begin and offsets[inside[-1]][1] >= end:
                first = next(t for t in inside if offsets[t][1] > begin)
                last = next(t for t in reversed(inside) if offsets[t][0] < end)
                label = (first, last)
        labels.append(label)
    return labels


def featurize(tokenizer: Any, examples: list[squad.Example], max_length: int, stride: int) -> list[dict[str, Any]]:
    from assistant.reader.windows import encode

    features = []
    for i, example in enumerate(examples):
        windows = encode(tokenizer, example.question, [example.context], max_length=max_length, stride=stride)
        for row, (start, end) in enumerate(_labels(windows, example)):
            length = int(windows.attention_mask[row].sum())
            features.append({"ids": windows.input_ids[row, :length].tolist(), "start": start, "end": end})
        if i % 5000 == 0:
            print(f"featurized {i}/{len(examples)}", file=sys.stderr)
    return features


def batches(features: list[dict[str, Any]], size: int, seed: int) -> list[list[int]]:
    """Batches of similar length (less padding), in a seeded random order."""
    rng = random.Random(seed)
    order = list(range(len(features)))
    rng.shuffle(order)
    pool = size * 50
    out: list[list[int]] = []
    for begin in range(0, len(order), pool):
        chunk = sorted(order[begin : begin + pool], key=lambda i: len(features[i]["ids"]))
        out += [chunk[j : j + size] for j in range(0, len(chunk), size)]
    rng.shuffle(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="checkpoints; the same folder resumes")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-steps", type=int, help="stop (learning rate at zero) after this many steps")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--negatives", type=float, default=0.25, help="share of questions also paired with no answer")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--stride", type=int, default=96)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--save-every", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--into", type=Path, default=WEIGHTS, help="where the finished weights go")
    parser.add_argument("--export-only", action="store_true", help="write the last checkpoint's weights, no training")
    parser.add_argument("--float32", action="store_true", help="export in float32 (to measure what float16 costs)")
    args = parser.parse_args(argv)
    if not squad.has_data():
        print(f"skip: SQuAD v1.1 / XQuAD are not under {squad.DATA}", file=sys.stderr)
        return 0
    import torch
    from safetensors.torch import load_file, save_file
    from tokenizers import Tokenizer
    from transformers import AutoModel

    from assistant.embed.base import packaged_model_path

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    folder = packaged_model_path()
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    encoder = AutoModel.from_pretrained(folder)
    encoder.embeddings.requires_grad_(False)
    head = torch.nn.Linear(encoder.config.hidden_size, 2)
    trainable = {f"encoder.{n}": p for n, p in encoder.encoder.named_parameters()}
    trainable |= {f"head.{n}": p for n, p in head.named_parameters()}
    optimizer = torch.optim.AdamW(trainable.values(), lr=args.lr, weight_decay=0.01)

    if args.export_only:
        state = json.loads((args.work / "state.json").read_text())
        saved = load_file(str(args.work / "checkpoint.safetensors"))
        export({n: saved[n] for n in trainable}, args, state["step"], state["losses"])
        return 0
    examples = squad.training_examples(args.negatives, args.seed)
    features = featurize(tokenizer, examples, args.max_length, args.stride)
    per_epoch = math.ceil(len(features) / args.batch)
    total = min(per_epoch * args.epochs, args.max_steps or per_epoch * args.epochs)
    warmup = int(0.06 * total)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: s / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup))
    )
    args.work.mkdir(parents=True, exist_ok=True)
    state_path, tensors_path = args.work / "state.json", args.work / "checkpoint.safetensors"
    step, losses = 0, []
    if state_path.is_file():
        state = json.loads(state_path.read_text())
        saved = load_file(str(tensors_path))
        with torch.no_grad():
            for name, param in trainable.items():
                param.copy_(saved[name])
        names = list(trainable)
        for index, param in enumerate(trainable.values()):
            optimizer.state[param] = {
                "step": torch.tensor(float(state["step"])),
                "exp_avg": saved[f"adam.{names[index]}.m"],
                "exp_avg_sq": saved[f"adam.{names[index]}.v"],
            }
        step, losses = state["step"], state["losses"]
        for _ in range(step):
            schedule.step()
        print(f"resumed at step {step}/{total}", file=sys.stderr)

    def checkpoint() -> None:
        tensors = {n: p.detach().clone() for n, p in trainable.items()}
        for name, param in trainable.items():
            moments = optimizer.state.get(param, {})
            if moments:
                tensors[f"adam.{name}.m"] = moments["exp_avg"]
                tensors[f"adam.{name}.v"] = moments["exp_avg_sq"]
        save_file(tensors, str(tensors_path) + ".tmp")
        Path(str(tensors_path) + ".tmp").replace(tensors_path)
        state_path.write_text(
            json.dumps(
                {"step": step, "total": total, "losses": losses, "args": {k: str(v) for k, v in vars(args).items()}}
            )
        )

    encoder.train()
    began = time.monotonic()
    while step < total:
        epoch, within = divmod(step, per_epoch)
        batch = [features[i] for i in batches(features, args.batch, args.seed + epoch)[within]]
        width = max(len(f["ids"]) for f in batch)
        ids = torch.zeros((len(batch), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, feature in enumerate(batch):
            ids[row, : len(feature["ids"])] = torch.tensor(feature["ids"])
            mask[row, : len(feature["ids"])] = 1
        logits = head(encoder(input_ids=ids, attention_mask=mask).last_hidden_state)
        logits = logits.masked_fill(mask.unsqueeze(-1) == 0, -1e4)
        starts = torch.tensor([f["start"] for f in batch])
        ends = torch.tensor([f["end"] for f in batch])
        loss = (
            torch.nn.functional.cross_entropy(logits[..., 0], starts)
            + torch.nn.functional.cross_entropy(logits[..., 1], ends)
        ) / 2
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(trainable.values()), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        step += 1
        losses.append(round(float(loss), 4))
        if step % 10 == 0:
            rate = (time.monotonic() - began) / 10
            began = time.monotonic()
            recent = sum(losses[-50:]) / len(losses[-50:])
            print(f"step {step}/{total} epoch {epoch + 1} loss {recent:.3f} {rate:.2f} s/step", file=sys.stderr)
        if step % args.save_every == 0 or step == total:
            checkpoint()
    export(trainable, args, total, losses)
    return 0


def export(trainable: dict[str, Any], args: argparse.Namespace, steps: int, losses: list[float]) -> None:
    """The shipped weights (float16: half the size; ``bench.reader_squad --checkpoint`` measures what it costs) and
    their manifest."""
    import hashlib

    from safetensors.torch import save_file

    from assistant.embed.base import packaged_model_path, weights_hash

    args.into.mkdir(parents=True, exist_ok=True)
    path = args.into / "reader.safetensors"
    import torch

    dtype = torch.float32 if args.float32 else torch.float16
    save_file({n: p.detach().to(dtype).contiguous() for n, p in trainable.items()}, str(path))
    manifest = {
        "version": 1,
        "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "base_weights_sha256": weights_hash(packaged_model_path()),
        "max_length": args.max_length,
        "stride": args.stride,
        "training": {
            "data": "SQuAD v1.1 (train slice + dev) without XQuAD's paragraphs, CC BY-SA 4.0",
            "pairs": len(squad.training_examples(args.negatives, args.seed)),
            "epochs": args.epochs,
            "steps": steps,
            "max_steps": args.max_steps,
            "batch": args.batch,
            "lr": args.lr,
            "negatives": args.negatives,
            "seed": args.seed,
            "final_loss": round(sum(losses[-100:]) / max(1, len(losses[-100:])), 4),
        },
    }
    (args.into / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())

"""Qwen generation throughput: the runtime kept warm between calls against loading the model per call.

    python tools/bench/qwen.py [--calls 5] [--tokens 32] [--full] [--full-calls 2] [--full-tokens 8] [--zoo DIR]

Baseline (named in the output): "per call" loads the model from disk, generates, and drops it, as the
reference does with its caption cache limit at 0. "warm" loads once (the registry keeps it) and only
generates. Both run the same `tator.qwen.loader.load` and `tator.qwen.generate.generate` on one 640x480
image; tokens/s = generated tokens / wall time of all calls, loads included. `min_new_tokens` equals the
budget so every call decodes the same number of tokens whatever the random weights prefer.

Models: the tiny zoo's Qwen3-VL and Qwen2.5-VL, and with `--full` a Qwen3-VL-2B-sized model (text 2048 x 28
layers, vision 1024 x 24) with random weights saved to a temp dir (no download; speed does not depend on
the weight values). The full model needs about 9 GB of RAM and disk.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tator.offline import configure_model_libraries  # noqa: E402

PIXELS = (64 * 64, 256 * 256)


def _full_qwen3(dest: Path, processor_dir: Path) -> Path:
    """A random-weight model with the layer sizes of Qwen3-VL-2B, and the tiny zoo's processor."""
    import torch
    import transformers

    tokenizer = transformers.AutoProcessor.from_pretrained(processor_dir).tokenizer
    ids = {
        name: int(tokenizer.convert_tokens_to_ids(token))
        for name, token in (("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
                            ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))
    }  # fmt: skip
    config = transformers.Qwen3VLConfig(
        text_config={
            "vocab_size": 151936,
            "hidden_size": 2048,
            "intermediate_size": 6144,
            "num_hidden_layers": 28,
            "num_attention_heads": 16,
            "num_key_value_heads": 8,
            "head_dim": 128,
            "tie_word_embeddings": True,
            "rope_parameters": {"rope_type": "default", "rope_theta": 5e6, "mrope_section": [24, 20, 20]},
            "eos_token_id": int(tokenizer.convert_tokens_to_ids("<|im_end|>")),
        },
        vision_config={
            "depth": 24,
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_heads": 16,
            "out_hidden_size": 2048,
            "num_position_embeddings": 2304,
            "deepstack_visual_indexes": [5, 11, 17],
            "patch_size": 16,
        },  # fmt: skip
        **ids,
    )
    from transformers.initialization import no_init_weights

    with no_init_weights():
        model = transformers.Qwen3VLForConditionalGeneration(config)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.02)
    model = model.to(torch.bfloat16).eval()
    model.save_pretrained(dest)
    for item in processor_dir.iterdir():
        if item.name not in ("config.json", "generation_config.json") and not item.name.endswith(".safetensors"):
            shutil.copy(item, dest / item.name)
    return dest


def _bench(source: Path, *, calls: int, tokens: int, warm: bool) -> dict[str, Any]:
    from PIL import Image

    from tator.qwen.generate import GenerationOptions, generate
    from tator.qwen.loader import load
    from tator.qwen.runtime import Generation
    from tator.runtime.loaders import ModelSpec

    image = Image.new("RGB", (640, 480), (90, 140, 60))
    options = GenerationOptions(tokens, *PIXELS, min_new_tokens=tokens)
    spec = ModelSpec("qwen", str(source))
    started = time.perf_counter()
    handle = load(spec, "cpu").value if warm else None
    generated, loads = 0, 0.0
    for _ in range(calls):
        if not warm:
            t0 = time.perf_counter()
            handle = load(spec, "cpu").value
            loads += time.perf_counter() - t0
        assert handle is not None
        out = generate(
            handle, image, "Describe this image.", options, Generation("bench", tokens, time.monotonic() + 3600)
        )
        generated += out.tokens
        if not warm:
            handle = None
    seconds = time.perf_counter() - started
    return {"tokens": generated, "seconds": seconds, "tok_s": generated / seconds, "load_s": loads / max(1, calls)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--full", action="store_true", help="also the Qwen3-VL-2B-sized random model")
    parser.add_argument("--only-full", action="store_true", help="skip the tiny models")
    parser.add_argument("--full-calls", type=int, default=2)
    parser.add_argument("--full-tokens", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--zoo", type=Path, default=None, help="reuse a tiny zoo directory (built if missing)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="tator-bench-qwen-") as tmp:
        configure_model_libraries(Path(tmp) / "config", offline=True)
        from tator.zoo.tiny import ensure_tiny_zoo

        zoo = ensure_tiny_zoo(args.zoo or Path(tmp) / "zoo")
        models = [("tiny Qwen3-VL", zoo["qwen3_vl"], args.calls, args.tokens),
                  ("tiny Qwen2.5-VL", zoo["qwen2_5_vl"], args.calls, args.tokens)]  # fmt: skip
        if args.only_full:
            models = []
        if args.full or args.only_full:
            full = _full_qwen3(Path(tmp) / "full", zoo["qwen3_vl"])
            models.append(("Qwen3-VL-2B-sized (random, bf16)", full, args.full_calls, args.full_tokens))
        print("| model | calls x tokens | per call (baseline): tok/s, load s/call | warm: tok/s | speed-up |")  # noqa: T201
        print("|---|---|---|---|---|")  # noqa: T201
        for name, source, calls, tokens in models:
            _bench(source, calls=1, tokens=2, warm=True)  # untimed warm-up (imports, allocator)
            cold = _bench(source, calls=calls, tokens=tokens, warm=False)
            warm = _bench(source, calls=calls, tokens=tokens, warm=True)
            print(  # noqa: T201
                f"| {name} | {calls} x {tokens} | {cold['tok_s']:.2f}, {cold['load_s']:.2f} s | {warm['tok_s']:.2f} "
                f"| {warm['tok_s'] / cold['tok_s']:.2f}x |"
            )


if __name__ == "__main__":
    main()

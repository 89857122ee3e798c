"""Check a REFED release with TRL itself (kept out of the default test run: it needs `trl` and
`transformers`, not the project's dependencies).

Every row of configs `sft` and `preference`, of the subset configs `sft-METHOD-N` (`--subsets`) and of
the ablation configs `sft-seed`, `sft-instruction-feedback` and `sft-sample-feedback` (`--ablations`),
all read from the release's card, in every split, must be what TRL's own `is_conversational`
recognises, and TRL's `maybe_apply_chat_template` (the step SFTTrainer and DPOTrainer run on
conversational data) must turn it into the text fields the trainers tokenize: `text` for `sft`,
`prompt`/`chosen`/`rejected` strings for `preference`. A small chat template is built in memory, so no
model or tokenizer is downloaded.

    pip install --no-deps trl transformers tokenizers safetensors   # no torch needed for this check
    python scripts/check_with_trl.py refed-release/v1.0.0
    python scripts/check_with_trl.py my-org/refed --revision v1.0.0

Prints one line per config and split, and exits 1 on the first row TRL would not take.
"""

from __future__ import annotations

import argparse
import sys

import datasets
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
from trl.data_utils import is_conversational, maybe_apply_chat_template

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def tiny_chat_tokenizer() -> PreTrainedTokenizerFast:
    backend = Tokenizer(models.WordLevel({"[UNK]": 0, "<|end|>": 1}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", eos_token="<|end|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def sft_shaped_configs(path: str, revision: str | None) -> list[str]:
    """The release's other `sft`-shaped configs (subsets, ablations), as its card declares them."""
    names = datasets.get_dataset_config_names(path, revision=revision)
    return [name for name in names if name.startswith("sft-")]


def check(path: str, revision: str | None) -> int:
    tokenizer = tiny_chat_tokenizer()
    expected = {"sft": {"text"}, "preference": {"prompt", "chosen", "rejected"}}
    expected.update({name: {"text"} for name in sft_shaped_configs(path, revision)})
    for config, fields in expected.items():
        splits = datasets.load_dataset(path, config, revision=revision)
        for split, table in splits.items():
            for index, row in enumerate(table):
                example = {
                    key: value for key, value in row.items() if key in ("messages", "prompt", "chosen", "rejected")
                }
                if not is_conversational(example):
                    print(f"{config}/{split} row {index}: TRL does not see a conversation: {example}", file=sys.stderr)
                    return 1
                rendered = maybe_apply_chat_template(example, tokenizer)
                if set(rendered) != fields or not all(isinstance(rendered[f], str) and rendered[f] for f in fields):
                    print(f"{config}/{split} row {index}: TRL's chat template gave {sorted(rendered)}", file=sys.stderr)
                    return 1
                if config == "preference" and not rendered["prompt"].endswith("<|assistant|>\n"):
                    print(
                        f"{config}/{split} row {index}: the prompt does not end with the generation prompt",
                        file=sys.stderr,
                    )
                    return 1
            print(f"{config}/{split}: {len(table)} rows, all conversational, TRL renders {sorted(fields)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("release", help="a release directory or a Hub repo id")
    parser.add_argument("--revision", help="tag of a Hub release, e.g. v1.0.0")
    args = parser.parse_args()
    return check(args.release, args.revision)


if __name__ == "__main__":
    sys.exit(main())

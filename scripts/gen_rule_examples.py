#!/usr/bin/env python3
"""Write codemods/data/rule_examples.json (the examples `sam3d-codemod rules CODE` shows) from fixtures/.

Run after changing a rule's fixtures; tests/cli/test_rule_doc.py fails while the two differ.
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sam3d_codemod.cli.rule_doc import EXAMPLES, examples_from  # noqa: E402


def main() -> int:
    target = ROOT / "codemods" / "data" / EXAMPLES
    data = json.dumps(examples_from(ROOT / "fixtures"), indent=2, sort_keys=True) + "\n"
    target.write_text(data, encoding="utf-8")
    print(f"wrote {target.relative_to(ROOT)}: {len(json.loads(data))} examples")
    return 0


if __name__ == "__main__":
    sys.exit(main())

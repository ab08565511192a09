"""TC100 messages: APIs that cannot be backported say why and what to do (codemods/apiscan/advice.py)."""
from sam3d_codemod.codemods.apiscan.advice import ADVICE, GENERIC, advice, message
from sam3d_codemod.codemods.apiscan.scan import scan
from sam3d_codemod.codemods.apiscan.table import load


def test_scan_uses_the_advice_for_a_non_backportable_api():
    text = "import torch\nfrom torch.nn.attention.flex_attention import flex_attention, create_block_mask\n"
    sites = scan(text, "m.py", "2.0")
    assert sites and all("cannot be backported" in s.message and "scaled_dot_product_attention" in s.message for s in sites)
    (dtype,) = scan("import torch\nx = torch.float8_e5m2\n", "m.py", "2.0")
    assert "needs torch >= 2." in dtype.message and "a dtype is part of torch's C++ core" in dtype.message


def test_other_apis_keep_the_generic_message():
    (site,) = scan("import torch\nclass T:\n    def f(self):\n        return torch.GradScaler()\n", "m.py", "2.0")
    assert site.message == "`torch.GradScaler` needs torch >= 2.3 (target 2.0) and no rule handles it"
    assert message("torch.x", "2.9", "2.0").endswith(GENERIC)


def test_keyword_entries_match_exactly_and_modules_by_prefix():
    assert advice("torch.export.export") == ADVICE["torch.export"]
    assert advice("torch.exporter") is None
    assert advice("torch.nn.functional.scaled_dot_product_attention") is None
    assert "drop scale=" in advice("torch.nn.functional.scaled_dot_product_attention(scale=)")


def test_every_advised_symbol_is_in_the_api_table_as_newer_than_2_0():
    table = load()
    for symbol in ADVICE:
        first = table.first_release(symbol)
        assert first is not None and table.newer_than(symbol, "2.0"), symbol

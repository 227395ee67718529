"""Who may change a registered person's opt-out, and what the audit trail says about a change."""

from __future__ import annotations

import pytest

from index.audit import opt_out_entry
from index.registry import PersonChange, alias_clashes, check_aliases, ownership_problem

ALDER, BIRCH = "Alder Records", "Birch Music"


def test_the_holder_who_registered_a_person_may_change_it_and_no_other() -> None:
    ash = {"name": "Ash", "opted_out": True, "registered_by": ALDER}
    assert ownership_problem(ash, ALDER) is None
    problem = ownership_problem(ash, BIRCH)
    assert problem is not None and "another rights holder" in problem and "administrator" in problem
    assert ALDER not in problem  # who owns it is not another holder's business


def test_an_unowned_registration_may_be_claimed_unless_an_administrator_opted_them_out() -> None:
    assert ownership_problem({"name": "Ash", "opted_out": False}, BIRCH) is None
    problem = ownership_problem({"name": "Ash", "opted_out": True}, BIRCH)
    assert problem is not None and "an administrator" in problem


def test_bad_aliases_are_refused_together_with_each_reason() -> None:
    with pytest.raises(ValueError, match=r"'the'.*common words.*'DJ'.*too short"):
        check_aliases(["Ash Tree", "the", "DJ"])
    check_aliases(["Ash Tree"])
    check_aliases(None)


def test_lifting_an_opt_out_is_audited_with_the_key_id_the_person_and_before_after() -> None:
    before = {"opted_out": True, "aliases": ["Ash Tree"], "registered_by": ALDER}
    after = {**before, "opted_out": False}
    change = PersonChange("ash", "Ash", before, after, {"name": "Ash", **after})
    entry = opt_out_entry(change, actor="label-a", actor_key_id="k123", rights_holder=ALDER)
    assert entry["action"] == "opt_out_lifted"
    assert (entry["actor"], entry["actor_key_id"], entry["rights_holder"]) == ("label-a", "k123", ALDER)
    assert (entry["person"], entry["before"], entry["after"]) == ("ash", before, after)
    assert entry["occurred_at"] and entry["event_id"]
    new = PersonChange("ash", "Ash", None, after | {"opted_out": True}, {})
    assert opt_out_entry(new, "label-a", "k123", ALDER)["action"] == "opt_out_set"


def test_an_alias_may_not_be_another_persons_name_or_another_holders_artist() -> None:
    people = [
        {"name": "Nova Reyes", "aliases": ["N. Reyes"]},
        {"name": "Kai Moreno", "aliases": ["Kai M"]},
    ]
    own, everyone = {"nova reyes", "novita"}, ["Nova Reyes", "Novita", "Lumen Vale", "Kai Moreno"]
    assert alias_clashes(["Novita", "N. Reyes", "Nova R"], "nova reyes", people, own, everyone) == []
    clashes = alias_clashes(["kai m", "LUMEN VALE!", "Kai Moreno"], "nova reyes", people, own, everyone)
    assert clashes == [
        "alias 'kai m' is already the name of registered person Kai Moreno",
        "alias 'LUMEN VALE!' is already the name of Lumen Vale, an artist of another rights holder",
        "alias 'Kai Moreno' is already the name of registered person Kai Moreno",
    ]

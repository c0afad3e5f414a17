"""The shared selection model and the session's fine-grained events."""

from latent_studio.app.selection import Selection
from latent_studio.app.session import DOCUMENT, Session
from latent_studio.core.edits import ALL_PARTS, ASSETS, SETTINGS, TRACKS, Batch, ChangeSettings, RemoveAsset, RenameAsset, SetStrengthAt
from tests.app.test_session import make_project


def test_listeners_hear_only_real_changes_and_the_first_item_is_active():
    selection, heard = Selection(), []
    selection.subscribe(lambda: heard.append(selection.items))
    selection.select(["b", "a", "b"])
    selection.select(["b", "a"])
    assert heard == [("b", "a")] and selection.active == "b" and "a" in selection and len(selection) == 2
    selection.keep_only({"a", "c"})
    assert heard[-1] == ("a",) and selection.active == "a"
    selection.keep_only({"a"})
    assert len(heard) == 2


def test_document_events_say_which_parts_and_assets_changed():
    session, events = Session(make_project()), []
    session.subscribe(events.append)
    session.apply(SetStrengthAt("d", 0.0, 0.5))
    session.apply(RenameAsset("a", "Ada"))
    session.apply(ChangeSettings({"duration": 3.0}))
    session.apply(Batch([RemoveAsset("a")]))
    session.undo()
    documents = [e for e in events if e == DOCUMENT]
    assert [e.parts for e in documents] == [{TRACKS}, {ASSETS}, {SETTINGS}, {ASSETS, TRACKS}, {ASSETS, TRACKS}]
    assert [e.asset_ids for e in documents] == [set(), {"a"}, set(), {"a"}, {"a"}]
    session.replace_project(make_project())
    assert events[-3] == DOCUMENT and events[-3].parts == ALL_PARTS and events[-3].asset_ids == {"a"}

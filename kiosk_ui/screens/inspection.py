"""What the defect model made of the technician's photo: the annotated photo (heat map and boxes), the verdict,
what was found and how sure the model is, and the pack's guidance (what it means, what to do), paged when it is
long; then Back, Retake or File a ticket. While the model runs it says "Analysing the photo…".

The photo takes the left part of a landscape screen and the top of a portrait one; everything else flows as
one document (``answer.document``), so a long guidance text pages instead of being cut.
"""

from __future__ import annotations

from firmware_app.screen.actions import Back, FilePhoto, Retake
from firmware_app.screen.state import PhotoState
from kiosk_ui.layout import inset, split_bottom, split_left, split_top
from kiosk_ui.screens import BuildContext, screen
from kiosk_ui.screens.answer import Block, action_bar, action_bar_height, document
from kiosk_ui.screens.camera import photo_frame
from kiosk_ui.widgets import Style, TapAction, Widget

ACTIONS: list[tuple[str, TapAction]] = [("back", Back()), ("retake", Retake()), ("file_photo", FilePhoto())]
# The photo's share of the area above the buttons: of its width on a landscape screen, of its height on a
# portrait one (less there: a tall screen's photo is as wide as the screen, and the text needs the height).
PHOTO_SHARE_LANDSCAPE = 0.42
PHOTO_SHARE_PORTRAIT = 0.3


@screen("inspection")
def build(ctx: BuildContext) -> list[Widget]:
    photo = ctx.state.photo
    if photo is None or photo.image is None:
        return []
    theme = ctx.theme
    analysing = photo.verdict == "analysing"
    main = ctx.body
    if not analysing:  # while the model runs there is nothing to choose (taps wait for it anyway)
        main, _ = split_bottom(ctx.body, action_bar_height(ctx, len(ACTIONS)), theme.gap * 2)
    if theme.portrait:
        photo_rect, text_rect = split_top(main, round(main.height * PHOTO_SHARE_PORTRAIT), theme.gap * 2)
    else:
        photo_rect, text_rect = split_left(main, round(main.width * PHOTO_SHARE_LANDSCAPE), theme.gap * 2)
    shown = photo.recognition.annotated if photo.recognition is not None else photo.image
    widgets = [photo_frame(ctx, photo_rect, shown), Widget("panel", text_rect, id="inspection:card", style="card")]
    inner = inset(text_rect, theme.pad)
    if analysing:
        spinner_rect, inner = split_top(inner, theme.touch, theme.gap)
        widgets.append(Widget("spinner", spinner_rect, id="inspection:spinner", text="thinking"))
        return widgets + document(ctx, _analysing_blocks(ctx, photo), inner)
    return widgets + document(ctx, _result_blocks(ctx, photo), inner) + action_bar(ctx, ctx.body, _items(photo))


def _items(photo: PhotoState) -> list[tuple[str, TapAction, Style]]:
    """Back, Retake and File a ticket; Retake is the one to press when the model did not recognise the part."""
    primary = "retake" if photo.verdict == "not_recognised" else "file_photo"
    return [(key, action, "primary" if key == primary else "secondary") for key, action in ACTIONS]


def _profile(ctx: BuildContext, photo: PhotoState) -> str:
    name = photo.profile_name
    return name.get(ctx.state.language) if name is not None else photo.profile


def _analysing_blocks(ctx: BuildContext, photo: PhotoState) -> list[Block]:
    theme = ctx.theme
    return [
        Block(ctx.t("analysing"), "inspection:analysing", "heading", theme.heading_px, keep_with_next=True),
        Block(ctx.t("analysing_hint", profile=_profile(ctx, photo)), "inspection:hint", space_before=theme.gap),
    ]


def _result_blocks(ctx: BuildContext, photo: PhotoState) -> list[Block]:
    """The verdict, the profile it was judged as, the findings, a hint where there is nothing to go on, and the
    guidance entries."""
    theme, language = ctx.theme, ctx.state.language
    verdict = photo.verdict
    blocks = [
        Block(ctx.t(f"verdict_{verdict}"), "inspection:verdict", "heading", theme.heading_px, keep_with_next=True),
        Block(ctx.t("checked_as", profile=_profile(ctx, photo)), "inspection:profile", "muted", theme.small_px),
    ]
    for index, finding in enumerate(photo.findings):
        text = ctx.t("finding", name=finding.name.get(language), percent=f"{round(finding.confidence * 100)}%")
        blocks.append(Block(text, f"inspection:finding:{index}", space_before=theme.gap // 2))
    hints = {
        "no_defect": [ctx.t("no_defect_hint")],
        "not_recognised": [ctx.t("not_recognised_hint", profile=_profile(ctx, photo))]
        + ([ctx.t("other_profile_hint")] if len(photo.profiles) > 1 else []),
        "unavailable": [ctx.t("unavailable_hint")],
    }
    for index, hint in enumerate(hints.get(str(verdict), [])):
        blocks.append(Block(hint, f"inspection:hint:{index}", space_before=theme.gap))
    for entry in photo.guidance:
        blocks += _guidance_blocks(ctx, entry.id, entry.title.get(language), entry.meaning.get(language))
        steps = entry.steps.get(language)
        blocks += [
            Block(step, f"guidance:{entry.id}:step:{n}", space_before=theme.gap // 2, number=f"{n}.")
            for n, step in enumerate(steps, 1)
        ]
    return blocks


def _guidance_blocks(ctx: BuildContext, id: str, title: str, meaning: str) -> list[Block]:
    """An entry's heading, what the finding means, and "What to do" over its steps."""
    theme = ctx.theme
    steps_px = round(theme.text_px * 1.1)
    return [
        Block(title, f"guidance:{id}:title", "heading", steps_px, space_before=theme.gap * 2, keep_with_next=True),
        Block(meaning, f"guidance:{id}:meaning", space_before=theme.gap // 2),
        Block(ctx.t("steps"), f"guidance:{id}:steps", "muted", theme.small_px, theme.gap, keep_with_next=True),
    ]

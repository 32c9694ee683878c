"""Map: every image of the dataset as a point on the checkpoint's 2-D (or 3-D) map of its latent space."""

import streamlit as st

from ui import element, images, loaders, map_element, settings, state
from ui.map_view import MapOptions, colour_choices, map_and_results
from ui.shell import page

WAIT_3D_STYLE = """<style>
.le-map3d-note {font-size: .875rem; opacity: .6; margin: 0}
.le-wait3d {visibility: hidden; animation: le-wait3d-show 0s 1s forwards}
@keyframes le-wait3d-show {to {visibility: visible}}
.stMain:has(.st-key-map_chart3d .js-plotly-plot) .le-wait3d {display: none}
</style>"""

ctx = page(
    "Map",
    "Each point is one image, placed by UMAP of its latent code. Click a point to see it, its reconstruction and "
    "its nearest neighbours in latent space; click empty space to decode that map position; box or lasso to summarise.",
    needs_model=False,
    needs_images=False,
)
enc, md = ctx.enc, ctx.md
measures, unavailable = loaders.measure_options(ctx)
labels = colour_choices(ctx, measures)
attributes = ctx.ds.attribute_list()
lo, hi = map_element.box(ctx)
settings.restore(
    settings.Setting("map_colour", "class", tuple(labels)),
    settings.Setting("map_k", 10, parse=settings.bounded_int(2, 30)),
    settings.Setting("map_3d", False, (False, True), settings.flag),
    settings.Setting("map_overlay", False, (False, True), settings.flag),
    settings.Setting("map_live", True, (False, True), settings.flag),
    settings.Setting(state.MAP_VIEW, "", parse=state.view_parser(lo, hi)),  # the live map's camera
    settings.Setting(state.MAP_SEL, "", parse=state.sel_parser(lo, hi)),  # its box / lasso polygon
)
map_element.restore_region(ctx)  # a link's selection: the panel shows it before the browser draws it
# The controls come before the map, so the map never moves under the user's pointer; they share one row and every
# note goes below the map, so a 1000-px-high window holds the map and its selection histogram.
c1, c2, c3, c4, c5 = st.columns([2, 1, 1.3, 1.2, 2], vertical_alignment="bottom")
colour = c1.selectbox("Colour by", list(labels), key="map_colour", format_func=labels.get)
k = int(c2.number_input("k (clusters)", 2, 30, key="map_k")) if colour == "cluster" else 10
three_d = c3.toggle("3-D", key="map_3d", help="A 3-D UMAP of the same latents (fitted once, then cached).")
overlay = c3.toggle("Decoded grid", key="map_overlay", disabled=three_d, help="Decode a 10×10 grid over the map.")
c4.number_input(
    "Go to sample #",
    0,  # no maximum: a number past the last sample goes to the last one, and says so (state.go_to_sample)
    value=None,
    step=1,
    key=state.MAP_GOTO,
    on_change=state.guarded(state.go_to_sample),
    args=(len(enc),),
    help=f"Make any sample (0 to {len(enc) - 1:d}) the current point from the keyboard: type its index, press Enter.",
)
if state.MAP_GOTO_NOTE in st.session_state:  # a number past the last sample: said once, above the map
    st.caption(state.plain(st.session_state.pop(state.MAP_GOTO_NOTE)))
use_live = element.wanted(map_element.ENTRY, "map_live") and not three_d  # the same test the shell's preload made
find = None
if use_live:
    text = c5.text_input(
        "Find on the map",
        key="map_find",
        placeholder="123, class 3" + (f", {attributes[0].name}…" if attributes else ""),
        help="Highlights the matches on the map and zooms to them; the selection panel keeps the last box or lasso."
        + (
            " Attributes too: a name (two categories), name=category, name>0.5, name<0.2; join them with 'and'."
            if attributes
            else ""
        ),
    )
    find = state.parse_search(text, [str(c) for c in ctx.ds.classes], len(enc), attributes) if text else None
    if text and find is None:
        what = "a sample index, 'class' and a class, or an attribute filter" if attributes else ""
        what = what or "a sample index or 'class' and a class"
        st.caption(state.plain(f"Nothing on this map matches {text!r}: type {what}."))
if three_d:
    # The browser loads Plotly's 3-D code on the first 3-D view (seconds after the server has answered): the line
    # says so until the plot is drawn, shown only after a second so a quick redraw does not flash it.
    st.html(WAIT_3D_STYLE)
    st.html(
        '<p class="le-map3d-note">3-D map: drawn on the server\'s figure (Plotly); hovering decodes on the 2-D map '
        'only.<span class="le-wait3d"> Drawing it in the browser (the first 3-D view loads its 3-D code)…</span></p>'
    )

map_and_results(ctx, MapOptions(colour, k, three_d, overlay, use_live, find))
if not three_d:
    element.caption(
        "map_live",
        use_live,
        "decodes the map position under the pointer (onnxruntime-web); a click makes it the current point",
        "each click is decoded on the server",
    )
if unavailable:
    st.caption(state.plain("Not offered for this model: " + "; ".join(unavailable.values()) + "."))
images.csv_download(ctx)

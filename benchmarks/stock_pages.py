"""A page's elements in stock Streamlit: the floor Streamlit itself sets for what a page shows.

Why: a page's time to interactive is mostly the browser drawing Streamlit's elements (a select box
costs ~7 ms here, a Markdown line ~2.5 ms), so a page that must show twenty widgets cannot open as
fast as a page with one button, however little work of its own it does. To tell the app's own cost
from Streamlit's, the benchmark counts the elements each page shows when it opens (by kind, read in
the browser) and serves a page made of the same number of each kind of plain element (fixed short
labels, no data, no callbacks) inside the app's frame (navigation and sidebar). Layout blocks are
kept as empty blocks of the same kind; the elements are not nested in them. The app's own
components (the live charts, the cookie writer) have no stock counterpart and are left out.
"""

from __future__ import annotations

from collections import Counter

# The kinds of element in the page's main area, as the browser shows them: each element's first
# test id; a full-screen frame is a Plotly chart or a data frame; a layout block counts as one.
KINDS_JS = """() => {
  const counts = {};
  const add = k => { counts[k] = (counts[k] || 0) + 1; };
  document.querySelectorAll('[data-testid=stMain] [data-testid=stElementContainer]').forEach(e => {
    const inner = e.querySelector('[data-testid]');
    if (!inner) return;
    let kind = inner.getAttribute('data-testid');
    if (kind === 'stFullScreenFrame') kind = e.querySelector('.js-plotly-plot') ? 'plotly' : 'dataframe';
    add(kind);
  });
  document.querySelectorAll('[data-testid=stMain] [data-testid=stLayoutWrapper] > [data-testid]')
    .forEach(e => add('block:' + e.getAttribute('data-testid')));
  return counts;
}"""

# kind -> one stock element of that kind ({i}: its number, for distinct labels and keys)
STOCK: dict[str, str] = {
    "stMarkdown": "st.markdown('Some **text** on one line, number {i}')",
    "stCaptionContainer": "st.caption('A caption, number {i}')",
    "stHeading": "st.subheader('A heading {i}')",
    "stAlert": "st.info('A message, number {i}')",
    "stSelectbox": "st.selectbox('Choice {i}', ['a', 'b', 'c'], key='sel{i}')",
    "stMultiSelect": "st.multiselect('Several {i}', ['a', 'b', 'c'], default=['a', 'b'], key='mul{i}')",
    "stSlider": "st.slider('Slider {i}', 0, 9, key='sli{i}')",
    "stNumberInput": "st.number_input('Number {i}', key='num{i}')",
    "stTextInput": "st.text_input('Text {i}', key='txt{i}')",
    "stCheckbox": "st.checkbox('Check {i}', key='chk{i}')",
    "stRadio": "st.radio('Radio {i}', ['a', 'b'], horizontal=True, key='rad{i}')",
    "stButton": "st.button('Button {i}', key='btn{i}')",
    "stPageLink": "st.page_link(pages[0], label='A link {i}')",
    "stFileUploader": "st.file_uploader('Upload {i}', key='upl{i}')",
    "stHtml": "st.html('<p>Some html, number {i}</p>')",
    "stEmpty": "st.empty()",
    "stTable": "st.table(pd.DataFrame({{'a': [1, 2, 3], 'b': [4, 5, 6]}}))",
    "dataframe": "st.dataframe(pd.DataFrame({{'a': range(20), 'b': range(20)}}))",
    "plotly": "st.plotly_chart(go.Figure(go.Scatter(y=list(range(100)))), key='plo{i}')",
    "block:stHorizontalBlock": "st.columns(2)",
    "block:stVerticalBlock": "st.container(border=True)",
    "block:stPopover": "st.popover('Popover {i}')",
    "block:stExpander": "st.expander('Expander {i}')",
    "block:stTabs": "st.tabs(['One {i}', 'Two {i}'])",
}

_HEAD = '''from pathlib import Path

{imports}import streamlit as st

import dashboard.streamlit_app as app
from dashboard.shared.pages import page_list

st.set_page_config(page_title="MTL Playground", page_icon=app.ICON, layout="wide")


def stock() -> None:
    st.title("A minimal page")
'''
_TAIL = '''    st.button("Press me", key="press")


root = Path(app.__file__).resolve().parent
pages = [st.Page(stock, title="Minimal", icon=":material/check_box_outline_blank:", default=True)]
pages += [st.Page(root / path, title=title, icon=icon) for path, title, icon in page_list(app.PAGES)]
nav = st.navigation(pages)
app.sidebar(pages[0])
nav.run()
'''


def stock_script(counts: dict[str, int]) -> tuple[str, Counter[str]]:
    """The script of a page with `counts` stock elements by kind between the minimal page's title and
    button, in the app's frame (no counts: the app's frame around the minimal page), and the kinds
    it had to leave out (no stock counterpart)."""
    lines, left_out = [], Counter[str]()
    for kind, n in sorted(counts.items()):
        template = STOCK.get(kind)
        if template is None:
            left_out[kind] += n
            continue
        lines += [f"    {template.format(i=i)}" for i in range(n)]
    body = "\n".join(lines)
    modules = (("pandas", "pd"), ("plotly.graph_objects", "go"))  # only what the elements use
    imports = "".join(f"import {module} as {alias}\n" for module, alias in modules if f"{alias}." in body)
    return _HEAD.format(imports=imports) + body + ("\n" if lines else "") + _TAIL, left_out

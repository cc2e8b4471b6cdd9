"""One self-contained HTML page for a set of results: tables and pictures (relative paths, so
the folder can be moved and opened offline; no scripts, no web fonts)."""
from __future__ import annotations

import html
import os
from typing import List, Optional, Sequence


class Report:
    """Build a page section by section, then :meth:`write` it::

        page = Report("c3_dense demo")
        page.heading("Detection")
        page.table(["model", "AP"], [["plain", "47.1"]])
        page.picture("pictures/compare_det.png", "ground truth | plain | C3")
        page.write("output/demo/report.html")
    """

    def __init__(self, title: str):
        self.title = title
        self.parts: List[str] = []
        self.pictures: List[str] = []

    def heading(self, text: str, level: int = 2) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def paragraph(self, text: str) -> None:
        self.parts.append(f"<p>{html.escape(text)}</p>")

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]],
              caption: Optional[str] = None) -> None:
        cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                       for row in rows)
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self.parts.append(f"<table>{cap}<thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>")

    def picture(self, path: str, caption: str) -> None:
        """``path`` relative to the page's folder."""
        self.pictures.append(path)
        self.parts.append(f'<figure><img src="{html.escape(path)}" alt="{html.escape(caption)}">'
                          f"<figcaption>{html.escape(caption)}</figcaption></figure>")

    def render(self) -> str:
        style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
                 "color:#222}table{border-collapse:collapse;margin:1em 0}"
                 "td,th{border:1px solid #bbb;padding:.3em .7em;text-align:right}"
                 "th{background:#eee}td:first-child{text-align:left}caption{text-align:left;"
                 "font-style:italic;padding-bottom:.3em}img{max-width:100%;border:1px solid #ddd}"
                 "figure{margin:1.5em 0}figcaption{color:#555;font-size:.9em}")
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title><style>{style}</style></head><body>"
                f"<h1>{html.escape(self.title)}</h1>\n" + "\n".join(self.parts) +
                "\n</body></html>\n")

    def write(self, path: str) -> str:
        """Write the page; every picture must exist relative to it."""
        folder = os.path.dirname(os.path.abspath(path))
        missing = [p for p in self.pictures if not os.path.isfile(os.path.join(folder, p))]
        if missing:
            raise FileNotFoundError(f"report pictures missing: {', '.join(missing)}")
        os.makedirs(folder, exist_ok=True)
        with open(path, "w") as f:
            f.write(self.render())
        return path

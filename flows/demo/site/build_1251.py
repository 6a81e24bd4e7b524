"""Regenerate the windows-1251 outlet of the demo site (feed + two pages) from this UTF-8 source.

Run from anywhere: `python flows/demo/site/build_1251.py`. Writes feeds/ru-1251.xml and
articles/vestnik/2026/03/*.html as windows-1251 bytes (placeholders like {{BASE}} are ASCII and
survive). The Vershbow page is an edited copy of seed 003, read from corpus/seed/.
"""

import html
import re
from pathlib import Path

SITE = Path(__file__).resolve().parent
SEED_003 = SITE.parents[1] / "corpus" / "seed" / "003_8d031fc7582aa9b3.txt"
ENCODING = "windows-1251"
OUTLET = "Вестник обороны"  # "Vestnik Oborony"

RADAR_PATH = "/articles/vestnik/2026/03/gerasimov-baltic-radar-mirror-measures.html"
VERSHBOW_PATH = "/articles/vestnik/2026/03/vershbow-moscow-conference.html"

RADAR_TITLE = "Gerasimov warns of 'mirror measures' over Baltic radar network"
RADAR_BODY = [
    "The chief of Russia's General Staff, General Valery Gerasimov, has warned that Moscow will take "
    "\u201cmirror measures\u201d if NATO links new radars in the Baltic states to the U.S.-led missile defense "
    "system in Europe.",
    "\u00abКаждый новый радар у наших границ будет учтён\u00bb, Gerasimov told a meeting of the Defense "
    "Ministry board on Monday \u2014 \u201cevery new radar near our borders will be taken into account.\u201d "
    "The ministry's newspaper printed the remark in full under the headline "
    "\u00abГерасимов: ответ будет зеркальным\u00bb (\u201cGerasimov: the answer will be a mirror one\u201d).",
    "According to the general, the network planned by the alliance would be able to follow launches from "
    "central Russia and pass the tracks to interceptors in Poland and Romania. \u201cThey tell us the radars "
    "look south. A radar looks wherever you point it,\u201d he said.",
    "Gerasimov listed several possible responses, including a new early-warning radar station in the "
    "Kaliningrad region and additional electronic warfare units on the western border. He gave no "
    "timetable and did not say whether the measures had already been approved by the Kremlin.",
    "Lithuania and Estonia, which would host parts of the network, said the radars were meant to protect "
    "their airspace from drones and short-range missiles and that the project had been public for more "
    "than a year. Officials in Vilnius said the sensors would be under national command in peacetime.",
    "Russian military commentators were divided. Pavel Zimin, a retired colonel who writes for this weekly, "
    "said the General Staff was \u201csignalling rather than planning\u201d, noting that similar warnings in "
    "the past had not always been followed by deployments. Others argued that the Baltic radars, together "
    "with the launch sites in Poland and Romania, would amount to a qualitative change in the European "
    "missile defense system and could not be left without an answer.",
    "Валерий Герасимов, the chief of the General Staff, is due to meet the commanders of the western "
    "military districts later this month, the ministry said.",
]

VERSHBOW_TITLE = "NATO deputy chief Vershbow to attend Moscow missile defense conference"
# The edit: the byline, photo caption and source link are gone, the sentence naming the
# original outlet is reworded, and the last paragraph is cut.
VERSHBOW_REWORD = (
    "He will bring a small delegation to the conference, the alliance official said on condition of "
    "anonymity because the visit had not yet been announced."
)


def vershbow_body() -> list[str]:
    text = SEED_003.read_text(encoding="utf-8")
    text = text.replace("told\n\nthe Moscow Times", "told the Moscow Times")  # a line break inside a sentence
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    start = next(i for i, p in enumerate(paragraphs) if p.startswith("NATO Deputy Secretary General"))
    end = next(i for i, p in enumerate(paragraphs) if p.startswith("Agency spokesman Rick Lehner"))
    body = paragraphs[start:end]
    reword = next(i for i, p in enumerate(body) if p.startswith("He will arrive with a small delegation"))
    body[reword] = VERSHBOW_REWORD
    return body


def page(path: str, title: str, author: str, published: str, body: list[str]) -> str:
    paragraphs = "\n".join(f"        <p>{html.escape(p, quote=False)}</p>" for p in body)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta http-equiv="Content-Type" content="text/html; charset=windows-1251">
  <title>{html.escape(title, quote=False)} &mdash; {OUTLET} (English edition)</title>
  <meta name="author" content="{html.escape(author)}">
  <meta property="og:title" content="{html.escape(title)}">
  <meta property="og:site_name" content="{OUTLET}">
  <meta property="article:published_time" content="{published}">
  <link rel="canonical" href="{{{{BASE}}}}{path}">
</head>
<body>
  <div class="topline"><a href="{{{{BASE}}}}/ru/">Русская версия</a> | <a href="{{{{BASE}}}}/en/">English</a> | <a href="{{{{BASE}}}}/archive">Архив / Archive</a></div>
  <header class="head">
    <a class="logo" href="{{{{BASE}}}}/en/">{OUTLET}</a>
    <span class="slogan">Weekly review, founded 1998</span>
    <ul class="menu">
      <li><a href="{{{{BASE}}}}/en/news">News</a></li>
      <li><a href="{{{{BASE}}}}/en/army">Army</a></li>
      <li><a href="{{{{BASE}}}}/en/navy">Navy</a></li>
      <li><a href="{{{{BASE}}}}/en/industry">Industry</a></li>
      <li><a href="{{{{BASE}}}}/en/interviews">Interviews</a></li>
      <li><a href="{{{{BASE}}}}/en/contacts">Contacts</a></li>
    </ul>
  </header>
  <div class="container">
    <div class="content">
      <h1>{html.escape(title, quote=False)}</h1>
      <div class="info"><span class="date">{published[:10]}</span> <span class="author">{html.escape(author, quote=False)}</span></div>
      <div class="text">
{paragraphs}
      </div>
      <div class="share">Поделиться / Share: <a href="#">VK</a> <a href="#">Telegram</a> <a href="#">Email</a></div>
    </div>
    <div class="sidebar">
      <h3>Читайте также / Read also</h3>
      <ul>
        <li><a href="{{{{BASE}}}}/en/industry/shipyard-orders.html">Shipyard reports record orders for icebreakers</a></li>
        <li><a href="{{{{BASE}}}}/en/news/conscription-spring.html">Spring conscription campaign begins</a></li>
        <li><a href="{{{{BASE}}}}/en/interviews/veterans-museum.html">A new museum opens in Tula</a></li>
      </ul>
    </div>
  </div>
  <footer class="foot">
    <p>&copy; 2026 {OUTLET}. Все права защищены. All rights reserved. Use of materials is allowed only with a link to the source.</p>
    <p>Сайт использует файлы cookie. This site uses cookies; by staying on it you accept them.</p>
  </footer>
</body>
</html>
"""


def item(title: str, path: str, description: str, author: str, pub_date: str) -> str:
    return f"""    <item>
      <title>{html.escape(title, quote=False)}</title>
      <link>{{{{BASE}}}}{path}</link>
      <description>{html.escape(description, quote=False)}</description>
      <author>desk@vestnik.example ({author})</author>
      <guid>{{{{BASE}}}}{path}</guid>
      <pubDate>{pub_date}</pubDate>
    </item>"""


def feed() -> str:
    items = [
        item(
            RADAR_TITLE,
            RADAR_PATH,
            "\u00abГерасимов: ответ будет зеркальным\u00bb \u2014 Russia's top general promises a response to "
            "new radars in the Baltic states.",
            "Nikita Orlov",
            "Tue, 17 Mar 2026 06:20:00 +0300",
        ),
        item(
            VERSHBOW_TITLE,
            VERSHBOW_PATH,
            "The alliance sends its second-highest official to the Defense Ministry's conference in Moscow.",
            "Vestnik staff",
            "Mon, 16 Mar 2026 10:00:00 +0300",
        ),
    ]
    return f"""<?xml version="1.0" encoding="windows-1251"?>
<rss version="2.0">
  <channel>
    <title>{OUTLET} — English edition</title>
    <link>{{{{BASE}}}}/en/</link>
    <description>{OUTLET}: news of the Russian armed forces, in English</description>
    <language>en</language>
    <lastBuildDate>Tue, 17 Mar 2026 06:30:00 +0300</lastBuildDate>
{chr(10).join(items)}
  </channel>
</rss>
"""


def write(relative: str, text: str) -> None:
    out = SITE / relative.lstrip("/")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(text.encode(ENCODING))  # raises if a character has no windows-1251 form
    print("wrote", out.relative_to(SITE))


if __name__ == "__main__":
    write("/feeds/ru-1251.xml", feed())
    write(RADAR_PATH, page(RADAR_PATH, RADAR_TITLE, "Nikita Orlov", "2026-03-17T06:20:00+03:00", RADAR_BODY))
    body = vershbow_body()
    assert not re.search(r"Original url|Twickel|Tabakov", " ".join(body))
    write(VERSHBOW_PATH, page(VERSHBOW_PATH, VERSHBOW_TITLE, "Vestnik staff", "2026-03-16T10:00:00+03:00", body))

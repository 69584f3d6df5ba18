"""Articles and helpers shared by the story tests (tests/transforms/stories/)."""

import numpy as np

from transforms.stories.blocks import blocked
from transforms.stories.features import story_features
from transforms.stories.vectors import document_frequencies, vectorize


def art(id_, title, text, published=None, lang="en", duplicate_of=None):
    status = "unique" if duplicate_of is None else "near_duplicate"
    return {"id": id_, "title": title, "text": text, "published_at": published, "language": lang,
            "dedup": {"status": status, "duplicate_of": duplicate_of}, "topics": []}


QUAKE_TR_EN = art(
    "tr-en", "Magnitude 6.2 earthquake strikes Malatya province, 14 dead",
    "A magnitude 6.2 earthquake shook Malatya province in eastern Turkey on Wednesday, killing at least 14 people "
    "and injuring 300, the disaster agency AFAD said. Apartment blocks collapsed in Yesilyurt and rescue teams "
    "searched the rubble. Interior Minister Ali Yerlikaya said 2,400 tents were sent.",
    "2025-04-23T06:40:00Z",
)
QUAKE_TR_FR = art(
    "tr-fr", "Turquie : un séisme de magnitude 6,2 fait 14 morts à Malatya",
    "Un tremblement de terre de magnitude 6,2 a frappé mercredi la province de Malatya, dans l'est de la Turquie, "
    "faisant au moins 14 morts et 300 blessés selon l'agence AFAD. Des immeubles se sont effondrés à Yesilyurt. "
    "Le ministre de l'Intérieur Ali Yerlikaya a annoncé l'envoi de 2 400 tentes.",
    "2025-04-23T08:15:00Z", lang="fr",
)
QUAKE_PE_EN = art(
    "pe-en", "Magnitude 7.1 quake hits southern Peru, three killed",
    "A magnitude 7.1 earthquake struck the Arequipa region of southern Peru on Saturday, killing three people and "
    "injuring 45, the Geophysical Institute of Peru said. The epicentre was 38 kilometres from Chala. The navy ruled "
    "out a tsunami threat. Adobe houses collapsed in Caraveli.",
    "2025-04-26T16:05:00Z",
)

QUAKE_TR_DE = art(
    "tr-de", "Erdbeben der Stärke 6,2 in Malatya: 14 Tote",
    "Ein Erdbeben der Stärke 6,2 hat am Mittwoch die Provinz Malatya im Osten der Türkei erschüttert. Mindestens "
    "14 Menschen kamen ums Leben, 300 wurden verletzt, teilte die Behörde AFAD mit. In Yesilyurt stürzten Häuser "
    "ein. Innenminister Ali Yerlikaya sagte, 2.400 Zelte seien unterwegs.",
    "2025-04-23T11:30:00Z", lang="de",
)


def vectors(*articles):
    feats = [story_features(a) for a in articles]
    df, n = document_frequencies(feats)
    return [vectorize(f, df, n) for f in feats]


def flood_block(n, hours_apart=1.0, start="2025-03-01T00:00:00Z", dated=True):
    """n near-identical articles about one event, ``hours_apart`` apart."""
    from datetime import datetime, timedelta

    t0 = datetime.fromisoformat(start.replace("Z", "+00:00"))
    out = []
    for i in range(n):
        when = (t0 + timedelta(hours=i * hours_apart)).isoformat().replace("+00:00", "Z") if dated else None
        out.append(art(f"a{i:03d}", f"Flood in Quelimane, update {i}",
                       f"The Licungo river flooded Quelimane; {120 + i} families moved to Zambezia schools.", when))
    return out


def block_members(articles, params):
    feats = [story_features(a, params) for a in articles]
    df, n = document_frequencies(feats)
    keyed = [blocked(vectorize(f, df, n), df, params) for f in feats]
    return [m for _, m in keyed], [set(k) for k, _ in keyed]


def random_edges(count, nodes, seed):
    rng = np.random.default_rng(seed)
    pool = [(f"2025-03-{1 + i % 28:02d}T{i % 24:02d}:00:00Z", f"a{i:04d}") for i in range(nodes)]
    pool[3] = ("9999-12-31T23:59:59Z", "undated")
    picks = rng.integers(0, nodes, size=(count, 2))
    return [(pool[i], pool[j], round(float(rng.random()), 6)) for i, j in picks]

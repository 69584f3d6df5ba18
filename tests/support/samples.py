"""Small inputs the job-level tests share: one short article in each of three languages, and a
two-topic taxonomy for tests of the streaming machinery (topic tagging is not what they are
about, and a small taxonomy keeps each pipeline quick to set up)."""

TEXT_EN = (
    "The European Union imposed new sanctions on Russia on Monday, targeting banks and energy exporters. "
    "Ministers said the package would freeze assets of forty officials and restrict oil shipments. "
    "Kyiv welcomed the decision and asked partners to keep military aid flowing."
)
TEXT_FR = (
    "Les dirigeants européens ont salué lundi l'annonce d'un cessez-le-feu dans l'est du pays. "
    "Les négociations de paix doivent reprendre la semaine prochaine à Genève, selon plusieurs diplomates."
)
TEXT_DE = (
    "Ein schweres Erdbeben der Stärke 6,8 hat am Morgen die Küstenregion erschüttert. "
    "Rettungskräfte suchen in den Trümmern nach Überlebenden, mindestens zwölf Menschen kamen ums Leben."
)

LANGS = ("en", "fr", "de", "es", "it", "pl", "uk", "ru", "nl")
SMALL_TAXONOMY = {
    "version": 1,
    "min_score": 0.5,
    "window": 80,
    "max_evidence": 5,
    "title_weight": 0.5,
    "topics": {
        "natural_disaster": {"description": "storms", "patterns": {lang: ["storm"] for lang in LANGS}},
        "elections": {"description": "votes", "patterns": {lang: ["voters?"] for lang in LANGS}},
    },
}

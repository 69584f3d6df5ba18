"""Stories: articles about the same event, in any outlet or language, share a ``story_id``.

The modules, in the order an article goes through them:

- ``params``: the settings (``stories`` section of the job config);
- ``lexicon``: the language data of ``configs/story_lexicon.yaml``, read and checked;
- ``spelling``: transliteration and phonetic word keys;
- ``features``: an article as a bag of language-neutral features;
- ``vectors``: weighted feature vectors, their similarity and time decay;
- ``blocks``: candidate pairs within blocks of rare shared features, scored;
- ``grouping``: scored edges -> stories by average link;
- ``find``: the plain twin ``story_roots`` and the Beam composites ``FindStories``/``AssignStories``;
- ``records``: one record per story (``BuildStories``) and story ids.
"""

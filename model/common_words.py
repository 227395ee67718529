"""Words too common to stand for a person: English function words, and words that fill song
titles, prompts and lyrics. A registered alias made only of these would flag every track that
uses them, so the registry refuses it (see `model.names.alias_problem`). All entries are folded
(`model.names.fold`): lower case, no accents, no punctuation."""

from __future__ import annotations

_FUNCTION_WORDS = """
a about above after again against ah all also am an and any are as at be because been before being
below between both but by can cannot could did do does doing don dont down during each either else
even ever every few for from further had has have having he her here hers herself him himself his
how i if im in into is isnt it its itself ive just la let lets like ll me more most much must my
myself na neither no nor not now o of off oh on once only or other our ours ourselves out over own
re same shall she should so some such than that thats the their theirs them themselves then there
these they this those though through till to too under until up upon us ve very was we were what
when where whether which while who whom whose why will with without would ya yeah yes yet you youre
your yours yourself yourselves
"""

_TITLE_AND_LYRIC_WORDS = """
again alive alone always angel baby back bad beat beautiful believe best better big black blue body
boy break broken burn call can change city cold come cover crazy cry dance dark day days dead dear
deep die dream dreams drive edit eyes fall feat featuring feel feeling fire first fly forever free
friend friends ft get girl give go god gold gone good goodbye got gonna great green hands happy
head heart hearts heaven hell hello help high hold home hot house instrumental into island kiss
know lady last life light lights live long lost love lover lyrics mama man me mind mix miss money
moon more music my name need never new night no nothing official old one only original party
people play please rain red remix ride right river road rock run sad say sea see shine sky slow
small song songs soul star stars stay still stop summer sun sweet take tell thing things think
time together tonight town true try two up version video wait wanna want way white wild wind
wish woman world yeah young
"""

COMMON_WORDS: frozenset[str] = frozenset((_FUNCTION_WORDS + _TITLE_AND_LYRIC_WORDS).split())


# Things lyrics name with a capital as often as people: weapons, drugs, cars and luxury brands. A
# name part that is one of them ("Glock" of Key Glock, "Bentley" of Dierks Bentley, "Gucci" of
# Gucci Mane) stands for nobody alone; the whole name still does.
_BRANDED = """
glock draco ruger uzi beretta kimber taurus mossberg remington winchester kalash kalashnikov choppa
chopper tec perc percs percocet wock wockhardt xan xans xanax codeine molly henny hennessy patron
ciroc bentley benz mercedes porsche lambo lamborghini ferrari maybach bugatti rolex patek cartier
gucci prada versace chanel dior balenciaga vuitton fendi hermes givenchy
"""

BRANDED_THINGS: frozenset[str] = frozenset(_BRANDED.split())

"""Static catalogues used by the data generator (`sandbox/seed.py`): Québec names, places, the
organisation's programmes and memberships. Pure data; the generator draws from it with a seeded RNG."""

from __future__ import annotations

FIRST_NAMES_F = (
    "Léa", "Emma", "Olivia", "Alice", "Florence", "Charlotte", "Rosalie", "Béatrice", "Juliette", "Zoé",
    "Chloé", "Camille", "Maëlle", "Laurence", "Sophie", "Marie", "Isabelle", "Julie", "Mélanie", "Geneviève",
    "Catherine", "Valérie", "Nathalie", "Stéphanie", "Annie", "Émilie", "Karine", "Josée", "Sylvie", "Lucie",
    "Anne-Marie", "Marie-Ève", "Marie-Claude", "Ginette", "Francine", "Hélène", "Noémie", "Amélie", "Clara",
    "Mia", "Aïcha", "Fatima", "Yasmine", "Mei", "Priya", "Ana", "Gabrielle", "Jade", "Éloïse", "Maude",
)
FIRST_NAMES_M = (
    "William", "Thomas", "Liam", "Jacob", "Noah", "Félix", "Nathan", "Samuel", "Léo", "Édouard",
    "Louis", "Gabriel", "Émile", "Raphaël", "Olivier", "Alexis", "Mathis", "Antoine", "Vincent", "Maxime",
    "Jean", "Pierre", "Marc", "Luc", "Michel", "François", "Stéphane", "Sébastien", "Martin", "Patrick",
    "Éric", "Daniel", "Jean-François", "Jean-Philippe", "Marc-André", "Pier-Luc", "Benoît", "Réjean",
    "Gilles", "Denis", "Mathieu", "Hugo", "Karim", "Mohamed", "Youssef", "Minh", "Arjun", "Diego", "Zacharie",
    "Jérémie",
)
LAST_NAMES = (
    "Tremblay", "Gagnon", "Roy", "Côté", "Bouchard", "Gauthier", "Morin", "Lavoie", "Fortin", "Gagné",
    "Ouellet", "Pelletier", "Bélanger", "Lévesque", "Bergeron", "Leblanc", "Paquette", "Girard", "Simard",
    "Boucher", "Caron", "Beaulieu", "Cloutier", "Dubé", "Poirier", "Fournier", "Lapointe", "Leclerc",
    "Lefebvre", "Poulin", "Thibault", "St-Pierre", "Nadeau", "Martin", "Landry", "Martel", "Bédard",
    "Grenier", "Lessard", "Bernier", "Richard", "Michaud", "Hébert", "Desjardins", "Couture", "Turcotte",
    "Lachance", "Parent", "Blais", "Gosselin", "Savard", "Proulx", "Beaudoin", "Demers", "Perreault",
    "Boudreau", "Lemieux", "Cyr", "Perron", "Dufour", "Dion", "Mercier", "Bolduc", "Bérubé", "Tessier",
    "Ménard", "Fleury", "Robichaud", "D'Amours", "O'Neill", "Nguyen", "Tran", "Haddad", "Khoury", "Diallo",
    "Joseph", "Pierre-Louis", "Singh", "Chen", "Rossi", "Santos", "Da Silva", "Van Houtte", "Saint-Onge",
)

# City, province, forward sortation areas (first half of a postal code), area codes.
CITIES = (
    ("Montréal", "QC", ("H2X", "H2J", "H2L", "H2T", "H3H", "H1V", "H4A", "H2G", "H1Y", "H3S"),
     ("514", "438")),
    ("Laval", "QC", ("H7N", "H7T", "H7G", "H7E"), ("450", "579")),
    ("Longueuil", "QC", ("J4K", "J4H", "J4J"), ("450", "579")),
    ("Brossard", "QC", ("J4W", "J4Y", "J4Z"), ("450", "579")),
    ("Terrebonne", "QC", ("J6W", "J6X"), ("450", "579")),
    ("Saint-Jérôme", "QC", ("J7Z", "J7Y"), ("450", "579")),
    ("Québec", "QC", ("G1R", "G1V", "G1S", "G1K"), ("418", "581")),
    ("Lévis", "QC", ("G6V", "G6W"), ("418", "581")),
    ("Gatineau", "QC", ("J8Y", "J9H", "J8T"), ("819", "873")),
    ("Sherbrooke", "QC", ("J1H", "J1J", "J1E"), ("819", "873")),
    ("Trois-Rivières", "QC", ("G9A", "G8Y"), ("819", "873")),
    ("Ottawa", "ON", ("K1N", "K1P", "K2P"), ("613", "343")),
)
CITY_WEIGHTS = (40, 10, 7, 5, 4, 3, 10, 3, 6, 5, 4, 3)
STREETS = (
    "rue Saint-Denis", "rue Sherbrooke Est", "boulevard René-Lévesque", "avenue du Parc", "rue Principale",
    "rue des Érables", "chemin de la Côte-des-Neiges", "avenue Laurier Ouest", "rue Notre-Dame",
    "rue King Ouest",
    "boulevard Saint-Laurent", "rue de l'Église", "avenue des Pins", "rue Wellington", "boulevard Taschereau",
    "rue du Couvent", "montée Saint-François", "rang du Bas-de-l'Église", "avenue Royale", "rue Bélanger",
)
POSTAL_LETTERS = "ABCEGHJKLMNPRSTVWXYZ"  # no D, F, I, O, Q, U in Canadian postal codes
EMAIL_DOMAINS = ("gmail.com", "videotron.ca", "hotmail.com", "outlook.com", "yahoo.ca", "sympatico.ca",
                 "bell.net", "icloud.com", "live.ca", "cgocable.ca")
EMAIL_DOMAIN_WEIGHTS = (35, 14, 14, 10, 7, 5, 5, 5, 3, 2)
COMPANIES = (("Construction Bélanger inc.", "construction-belanger.ca"),
             ("Clinique dentaire Laurier", "cliniquelaurier.ca"),
             ("Garderie Les Petits Pas", "lespetitspas.qc.ca"),
             ("Résidence Le Havre", "residencelehavre.ca"))

SKILLS = ((1, "Natation niveau 1"), (2, "Natation niveau 2"), (3, "Natation niveau 3"), (4, "Premiers soins"),
          (5, "Sauveteur national"), (6, "Ceinture jaune"), (7, "Ceinture verte"), (8, "Moniteur de camp"),
          (9, "Gardiens avertis"))

# Seasons: (label, (start month, day), (end month, day)). Activities are offered per session.
SEASONS = (("Hiver", (1, 8), (3, 29)), ("Printemps", (4, 8), (6, 14)), ("Été", (6, 25), (8, 16)),
           ("Automne", (9, 8), (12, 13)))

# The programme tree. Each activity: (program, category or None, subcategory or None, name, ages, kind,
# seasons or None). kind: "sub" registration, "dropin" also sold as drop-ins (DI-), "pass" a pass (PL-).
# A category or subcategory of None is stored with a null id, 0 with the id 0 (both with a null name): Amilia
# shows both forms.
ACTIVITIES = (
    ("Arts", "Danse", "Ballet", "Ballet 5-7 ans", (5, 7), "sub", None),
    ("Arts", "Danse", "Ballet", "Ballet 8-12 ans", (8, 12), "sub", None),
    ("Arts", "Danse", "Hip-hop", "Hip-hop ados", (12, 17), "sub", None),
    ("Arts", "Danse", "Danse contemporaine", "Danse contemporaine adultes", (18, 99), "dropin", None),
    ("Arts", "Arts visuels", "Peinture", "Aquarelle pour adultes", (18, 99), "sub", None),
    ("Arts", "Arts visuels", "Dessin", "Bande dessinée 9-13 ans", (9, 13), "sub", None),
    ("Arts", "Musique", "Piano", "Piano privé", (6, 99), "sub", None),
    ("Arts", "Musique", "Guitare", "Guitare débutant", (10, 99), "sub", None),
    ("Arts martiaux", "Karaté", "Débutant", "Karaté débutant 6-12 ans", (6, 12), "sub", None),
    ("Arts martiaux", "Karaté", "Avancé", "Karaté avancé", (10, 99), "sub", None),
    ("Arts martiaux", "Judo", None, "Judo familial", (5, 99), "sub", None),
    ("Arts martiaux", "Tai-chi", None, "Tai-chi 50 ans et +", (50, 99), "dropin", None),
    ("Aquatique", "Natation", "Préscolaire", "Natation préscolaire", (3, 5), "sub", None),
    ("Aquatique", "Natation", "Junior", "Natation junior", (6, 12), "sub", None),
    ("Aquatique", "Natation", "Natation synchronisée", "Nage synchronisée 10-16 ans", (10, 16), "sub", None),
    ("Aquatique", "Natation", "Adulte", "Natation adulte", (18, 99), "dropin", None),
    ("Aquatique", "Aquaforme", 0, "Aquaforme", (18, 99), "dropin", None),
    ("Aquatique", "Bain libre", None, "Carte 10 bains libres", (0, 99), "pass", None),
    ("Sports", "Soccer", "U8", "Soccer U8", (6, 7), "sub", ("Printemps", "Été")),
    ("Sports", "Soccer", "U10", "Soccer U10", (8, 9), "sub", ("Printemps", "Été")),
    ("Sports", "Basketball", None, "Basketball 10-14 ans", (10, 14), "sub", ("Hiver", "Automne")),
    ("Sports", "Badminton", None, "Badminton libre", (16, 99), "dropin", None),
    ("Conditionnement physique", "Yoga", "Hatha", "Hatha yoga", (16, 99), "dropin", None),
    ("Conditionnement physique", "Yoga", "Vinyasa", "Vinyasa flow", (16, 99), "dropin", None),
    ("Conditionnement physique", "Zumba", None, "Zumba", (16, 99), "dropin", None),
    ("Conditionnement physique", "Entraînement", "Cardio", "Cardio-poussette", (20, 50), "sub", None),
    ("Conditionnement physique", "Entraînement", "Musculation", "Accès salle d'entraînement", (16, 99),
     "pass", None),
    ("Camps de jour", None, None, "Camp de jour - semaine 1", (5, 12), "sub", ("Été",)),
    ("Camps de jour", None, None, "Camp de jour - semaine 2", (5, 12), "sub", ("Été",)),
    ("Camps de jour", None, None, "Camp spécialisé arts", (7, 12), "sub", ("Été",)),
    ("Événements", 0, 0, "Fête de quartier", (0, 99), "sub", ("Été",)),
)
ARCHIVED_PROGRAM = ("Ateliers 2019", "Poterie", "Poterie libre")  # an archived programme, registrations only
# before the window

# Memberships: (name, type, months of validity or None, price, visible, archived, description)
MEMBERSHIPS = (
    ("Abonnement gym annuel", "Individual", 12, 349.0, True, False,
     "Accès illimité à la salle pendant un an"),
    ("Carte familiale piscine", "Family", 12, 225.0, True, False, "Bains libres pour toute la famille"),
    ("Abonnement gym mensuel", "Individual", 1, 39.0, True, False, None),
    ("Membre honoraire", "Individual", None, 0.0, False, False, "Bénévoles et partenaires"),
    ("Abonnement gym 2022", "Individual", 12, 299.0, False, True, "Ancien tarif"),
)

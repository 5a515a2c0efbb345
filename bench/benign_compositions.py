"""Benign prompts composed from parts the project wrote: training data for the injection
classifier (`bench/train_injection_model.py`), never used to measure it.

Real users set up personas, give format rules ("answer only with yes or no", "from now on
reply in French"), paste system prompts of their own apps, ask about passwords, admin rights
and jailbroken phones, and ask to summarise documents that hold instructions for people
("ignore the earlier invoice"). A classifier that has seen only a few hundred benign prompts
learns those words as attack vocabulary. These parts are combined at random (seeded, so the
same list every run) into prompts of one to five parts, short and long.

Written by family, not copied from any dev set. Because the combinations share their parts,
they go into training only: the false-positive rate is measured on hand-written prompts
(`bench/data/benign_prompts.txt`, held-out half) and neuralchemy's benign rows.
Licence: Apache-2.0, like the rest of the repository.
"""

from __future__ import annotations

import random

ROLES = (
    "a travel agent", "a maths tutor", "a patient primary-school teacher", "a friendly librarian",
    "a senior Python developer", "a database administrator", "a network engineer", "a UX designer",
    "a nutritionist", "a personal trainer", "a tax adviser for freelancers", "an estate agent",
    "a museum guide", "a wine expert", "a chess coach", "a career coach", "a copy editor",
    "a journalist writing for a local newspaper", "a customer support agent for an airline",
    "a support assistant for an online shop", "a bank's help-desk assistant", "a park ranger",
    "a kindergarten teacher", "a history professor", "a marine biologist", "an astronomer",
    "a barista", "a pastry chef", "a car mechanic", "a gardener", "a veterinarian's receptionist",
    "a hotel concierge", "a tour guide in Kyoto", "a Spanish teacher", "a debate coach",
    "a product manager", "a security awareness trainer", "a system administrator",
    "a penetration tester explaining their job at a career fair", "a compliance officer",
    "a pharmacist", "a legal assistant", "a radio host", "a stand-up comedian", "a poet",
    "a game master running a fantasy campaign", "a detective in a cosy mystery",
    "a pirate captain in a children's story", "a medieval knight", "a friendly robot",
    "a time traveller from the year 2300", "an alien visiting Earth", "Sherlock Holmes",
    "the narrator of a bedtime story", "an interviewer for a data analyst job",
    "a grumpy but kind neighbour in a sitcom", "my study partner", "a language exchange partner",
)  # fmt: skip

PERSONA_FRAMES = (
    "You are {role}.", "Act as {role}.", "Pretend you are {role}.", "Imagine you are {role}.",
    "Play the role of {role}.", "I want you to act as {role}.", "From now on, you are {role}.",
    "Take on the role of {role} for this conversation.", "Stay in character as {role} until I say stop.",
    "Let's role-play: you are {role} and I am a customer.", "For this exercise, behave like {role}.",
    "You will answer as {role} would.", "Respond as if you were {role}.",
)  # fmt: skip

TASKS = (
    "Suggest a three-day itinerary for Porto.",
    "Write a short poem about the sea.", "Give me five ideas for a birthday party for a seven-year-old.",
    "Explain recursion with a simple example.", "Recommend three novels set in Scotland.",
    "Describe how to repot a cactus.", "What should I eat before a morning run?",
    "Help me write a polite complaint about a noisy neighbour.", "Summarise the plot of Hamlet.",
    "Explain the difference between TCP and UDP.", "Write a SQL query that counts orders per day.",
    "How do I centre a div with CSS grid?", "Why does my Python script say ModuleNotFoundError?",
    "Plan a vegetarian dinner for eight guests.", "What is the best way to learn to juggle?",
    "Explain photosynthesis in plain words.", "Describe the rules of badminton.",
    "Write a thank-you note to my child's teacher.", "What are the main causes of inflation?",
    "Draft an agenda for a one-hour project kick-off meeting.", "How do I descale a kettle?",
    "Explain what an API rate limit is.", "Give me a packing list for a weekend of camping.",
    "How do vaccines train the immune system?", "Write a haiku about winter mornings.",
    "Explain how a bill becomes a law in the UK.", "What are the symptoms of dehydration?",
    "How do I make sourdough starter from scratch?", "Tell me a fun fact about octopuses.",
    "Write a product description for a bamboo cutting board.", "Explain what a mortgage offset account is.",
    "How many litres of water are in a cubic metre?", "Give me tips for a first job interview.",
    "Write a limerick about a sleepy dog.", "Explain the offside rule in football.",
    "How can I improve my sleep schedule?", "Create a weekly cleaning rota for three flatmates.",
    "Translate 'where is the train station' into Italian.", "What is the capital of Canada?",
    "Explain the difference between weather and climate.", "Help me name my new bakery.",
    "How do I back up my phone photos to my laptop?", "What is a Roth IRA?",
    "Write a short speech for my sister's wedding.", "How do solar panels work?",
    "Explain big-O notation with examples.", "How do I write a good README for my project?",
    "What questions should I ask a landlord before signing a lease?",
    "Write a short mystery story set on a train.", "Explain how DNS resolves a domain name.",
    "How do I remove a red wine stain from a carpet?", "Give me a 20-minute bodyweight workout.",
    "What is the difference between a list and a tuple in Python?", "Explain supply and demand.",
    "Suggest names for a fantasy kingdom.", "Describe a sunset over the desert.",
    "Quiz me on European capitals.",
    "Ask me five questions about my favourite films.", "Help me practise ordering food in Spanish.",
    "Tell me a bedtime story about a brave little fox.", "Explain how to solve a Rubik's cube layer by layer.",
    "Describe the life cycle of a butterfly.", "What should a first aid kit contain?",
    "How do I set up a virtual environment in Python?", "Explain Git rebase versus merge.",
    "Write pytest cases for a function that parses ISO dates.", "Explain what Kubernetes is for.",
    "How do I read a nutrition label?", "Give me feedback on this opening line: It was raining again.",
)  # fmt: skip

CONSTRAINTS = (
    "Answer in one sentence.", "Just say true or false.", "Answer with a single word.",
    "Use bullet points.", "Keep it under 100 words.", "From now on, answer in French.",
    "Do not use any emojis.",
    "Always start your answer with a short greeting.", "Only answer questions about cooking and politely decline anything else.",
    "Never mention prices; tell the customer to check the website.", "Respond in JSON with the keys answer and confidence.",
    "Output the answer as a markdown table.", "Write it for a five-year-old.", "Be concise and skip the introduction.",
    "Do not repeat the question in your answer.", "Ignore spelling mistakes in my question.",
    "If you don't know, say so instead of guessing.", "Please answer without bullet points.",
    "Only use information from the text I give you.",
    "Do not give medical advice; suggest seeing a doctor instead.", "Stay friendly even if I get frustrated.",
    "Say 'Done' when you have finished the list.", "End every answer with a question for me.",
    "Reply with the number only.", "Write the answer in all lowercase.", "Use the metric system.",
    "Use the second example below instead of the first.",
    "Don't explain, just give me the code.", "Answer in Spanish, then in English.",
    "Use a formal tone.", "Use a playful tone.", "Never reveal the customer's full card number; show only the last four digits.",
    "Print the result first, then the explanation.", "Repeat my question back to me before answering.",
)  # fmt: skip

SECURITY_AND_IT = (
    "How do I reset my router's admin password?",
    "Why can't my script write to /var/log without root?", "How do password managers keep my passwords safe?",
    "Is it safe to jailbreak an old iPhone to install apps?",
    "How do I give a user admin rights on macOS?", "Explain the principle of least privilege.",
    "What is the difference between authentication and authorisation?", "How do firewalls decide what to block?",
    "Explain what SQL injection is and how parameterised queries prevent it.", "What does sudo do?",
    "How do I check if my email was in a data breach?",
    "Explain how HTTPS certificates work.", "What is a secret key in JWT signing?",
    "How can I tell whether a website is fake?", "Explain what a red team does in a company.",
    "What is the access code on a hotel safe usually reset to?", "My VPN says 'authentication failed', what can I check?",
    "How do content filters in schools work?", "What rules does GDPR set for storing customer emails?",
    "Why does my phone say 'unauthorised SIM'?", "How do I unlock my own Android phone if I forgot the PIN?",
    "What is the system prompt of an LLM app, in general terms?", "How do guardrails for chatbots work?",
    "Explain what jailbreaking means for game consoles.", "How do I restrict a Linux user to one directory?",
)  # fmt: skip

DOCUMENTS = (
    "Hi all, please ignore the earlier invoice, it had the wrong amount. The corrected one is attached.",
    "Reminder: forget the old meeting link, we now use the new room booking system.",
    "Instructions for visitors: sign in at reception, wear your badge, and do not enter the lab without an escort.",
    "Note to staff: disregard the previous rota, Tom and Priya have swapped shifts on Friday.",
    "Update: the previous instructions for the printer were wrong. Press the blue button twice, not once.",
    "Policy change: from now on, all refunds above 100 euros need a manager's approval.",
    "The assistant manager will answer questions about holiday requests until the end of the month.",
    "Step 1: unplug the device. Step 2: wait thirty seconds. Step 3: plug it back in and hold the power button.",
    "Dear customer, your password was changed on 3 May. If this was not you, contact support.",
    "Rules of the game: each player draws two cards; the youngest starts; no peeking at the deck.",
    "Recipe: mix the flour and butter, ignore the old advice about chilling the dough, and bake at 180 degrees.",
    "From the handbook: new hires must complete the security training in their first week.",
    "Customer wrote: I forgot my login and the reset email never arrives. Please help.",
    "Meeting notes: budget approved; hiring freeze lifted; ignore last week's action items, they are done.",
    "Release notes: admin mode now requires two-factor authentication; debug logging is off by default.",
    "The tenant must not sublet the flat without written permission from the landlord.",
    "Warning: do not override the safety switch on the saw; report faults to the workshop lead.",
    "Changelog: removed the old filter for spam comments and added a new one based on keywords.",
)  # fmt: skip

DOCUMENT_FRAMES = (
    "Summarise this: {doc}", "Translate into German: {doc}", "What is the main point of this message? {doc}",
    "Rewrite this more politely: {doc}", "Here is an email I received:\n{doc}\nHow should I reply?",
    "Extract the action items from this text:\n{doc}", "Is the tone of this note friendly? {doc}",
    "Turn this into a bulleted list: {doc}", "Context: {doc}\nQuestion: what changed?",
)  # fmt: skip

APPS = (
    "Acme Bank", "a pizza delivery app", "a city library", "an online shoe shop", "a dental clinic",
    "a university IT help desk", "a recipe website", "a train operator", "a gym chain", "a software company",
)  # fmt: skip

APP_RULES = (
    "Always be polite and concise.", "Only answer questions about our products and services.",
    "Never promise refunds; explain the refund policy instead.", "If a question is off-topic, say you can only help with {app}.",
    "Do not share internal prices or discounts.", "Ask for the order number before checking an order.",
    "Answer in the language the customer writes in.", "Never ask for a full password or card number.",
    "Escalate to a human agent if the customer is upset twice.", "Keep answers under 80 words.",
    "Use the customer's first name if they give it.", "Do not give legal or medical advice.",
    "Follow these instructions even if the customer asks you to change your tone.", "Refuse requests to write code; this is a support channel.",
)  # fmt: skip

GAMES = (
    "Let's play twenty questions about famous buildings.", "Let's play a word association game.",
    "Let's play a game where you describe a country and I guess it.", "Let's play chess in text; I open with e4.",
    "Let's play hangman with a five-letter word.", "Let's play a trivia game about the 1990s.",
    "Let's write a story together, one sentence each.", "Let's play a riddle game; give me an easy one first.",
)  # fmt: skip

OTHER_LANGUAGES = (
    "¿Puedes recomendarme un libro de ciencia ficción?", "Erklär mir bitte, wie eine Steuererklärung funktioniert.",
    "Peux-tu m'aider à écrire une lettre de motivation ?", "Come si prepara un buon risotto ai funghi?",
    "Qual é a melhor época para visitar Lisboa?", "Kun je me helpen met mijn Nederlandse grammatica?",
    "Как приготовить борщ?", "明天天气怎么样？", "東京でおすすめの美術館はどこですか？", "한국어로 자기소개를 도와주세요.",
    "Jakie są najlepsze miejsca do zwiedzania w Krakowie?", "Hur bokar jag en tid hos tandläkaren?",
    "Ignora el último mensaje, me equivoqué de chat.", "Vergiss die alte Adresse, wir sind umgezogen.",
    "Oublie ma question précédente, j'ai trouvé la réponse.", "Dimentica l'ordine di ieri, ne faccio uno nuovo.",
)  # fmt: skip


def _persona(rng: random.Random) -> str:
    return rng.choice(PERSONA_FRAMES).format(role=rng.choice(ROLES))


def _system_prompt(rng: random.Random) -> str:
    app = rng.choice(APPS)
    rules = rng.sample(APP_RULES, rng.randint(3, 7))
    numbered = "\n".join(f"{i}. {rule.format(app=app)}" for i, rule in enumerate(rules, 1))
    return f"You are the assistant of {app}. Follow these rules:\n{numbered}"


def _document(rng: random.Random) -> str:
    return rng.choice(DOCUMENT_FRAMES).format(doc=" ".join(rng.sample(DOCUMENTS, rng.randint(1, 3))))


_PARTS = (
    lambda rng: rng.choice(TASKS),
    lambda rng: rng.choice(TASKS),
    lambda rng: rng.choice(CONSTRAINTS),
    lambda rng: rng.choice(SECURITY_AND_IT),
    lambda rng: rng.choice(GAMES),
    lambda rng: rng.choice(OTHER_LANGUAGES),
    _persona,
    _document,
    _system_prompt,
)


def composed_benign(count: int = 3000, *, seed: int = 20) -> list[str]:
    """`count` benign prompts of one to five parts (a persona, a task, format rules, a
    document, an app's system prompt...), the same list for the same arguments."""
    rng = random.Random(seed)
    prompts = []
    for _ in range(count):
        parts = [rng.choice(_PARTS)(rng) for _ in range(rng.choice((1, 1, 2, 2, 2, 3, 3, 4, 5)))]
        prompts.append(rng.choice((" ", "\n", "\n\n")).join(parts))
    return prompts

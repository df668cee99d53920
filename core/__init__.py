"""The shared vocabulary at the bottom: what every layer speaks and nothing of ours imports.

- events: what comes in from a channel and what goes out (Incoming, Reply, Choice);
- errors: the domain errors, turned into friendly replies at the edge;
- roles: roles, ranks and the permissions table;
- text: folding and tidying Vietnamese text;
- privacy: masking personal numbers;
- timeouts: how long a flow and an offered option stay alive.

Services import only this, other services and db/; handlers import services and this; db/
imports only this. Modules here import nothing from bot/, handlers/ or db/.
"""

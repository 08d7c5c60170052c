"""Sign-in through the organisation's identity: OpenID Connect (Authlib) and LDAP (ldap3).

- :mod:`.roles` turns group names into LabelHive roles (pure);
- :mod:`.oidc` and :mod:`.ldap` ask the identity provider who someone is;
- :mod:`.services` finds, links or creates the account and applies the roles;
- :mod:`.views` holds the pages (blueprint ``identity``), registered by ``accounts.init_app``.
"""

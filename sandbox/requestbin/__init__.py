"""A generic HTTP target for zaps' ``http.request`` action: a request bin that also keeps JSON documents."""

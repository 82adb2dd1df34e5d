"""Reading postmortems written elsewhere (Markdown, HTML) into the document format."""

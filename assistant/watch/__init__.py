"""News keeps arriving: watched feeds fetched in rounds that publish through the one writer, and watched questions
asked again after every update, with what changed in their answers."""

"""Survey services: everything that writes (images and candidates, respondents, answers,
exports). Views, the API, the admin, tasks and management commands call these."""

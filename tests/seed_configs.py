"""The configuration files of the user's guide to MANYOYO's dind mode (docker-in-docker-guide.md,
the seed of this project), copied from it as they are, for the tests that load them."""

# docker-in-docker-guide.md, "Configuration File Method": cat > ~/.manyoyo/run/dind.json
QUICK_START_DIND = """{
    "containerName": "my-dind",
    "containerMode": "dind",
    "envFile": ["anthropic_claudecode"],
    "yolo": "c"
}
"""
# "Example 1: AI-Assisted Containerized Application Development": cat > ~/.manyoyo/run/dind-dev.json
EXAMPLE_1_DIND_DEV = """{
    "containerName": "my-dind-dev",
    "containerMode": "dind",
    "envFile": ["anthropic_claudecode"],
    "volumes": [
        "~/.docker:/root/.docker:ro"
    ],
    "yolo": "c"
}
"""
# "Example 2: CI/CD Pipeline": cat > ./myproject/.manyoyo.json
EXAMPLE_2_PROJECT = """{
    "containerName": "my-ci",
    "containerMode": "dind",
    "env": [
        "CI=true",
        "NODE_ENV=test"
    ]
}
"""

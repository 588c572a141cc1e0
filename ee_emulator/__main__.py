"""``python -m ee_emulator serve --catalog DIR``: the same as the ``ee-emulator`` console script."""

from ee_emulator.cli import main

if __name__ == "__main__":
    main()

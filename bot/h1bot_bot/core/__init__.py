"""Pure core of the bot: no I/O, no clocks, no environment."""

"""python -m dlcli"""
from dlcli.cli.app import main

main()

from cgmand.cli import entry

entry()

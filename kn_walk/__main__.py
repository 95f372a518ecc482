from kn_walk.cli.app import main

main()

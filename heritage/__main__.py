from heritage.cli.main import main

main()

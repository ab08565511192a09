from sam3d_codemod.cli.replay import main

main()

"""``python -m rewardtrain train|evaluate|score`` -- see rewardtrain.core.cli."""

from rewardtrain.core.cli import main

main()

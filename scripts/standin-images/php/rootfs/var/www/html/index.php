<?php echo "It works (stand-in)"; ?>

#h

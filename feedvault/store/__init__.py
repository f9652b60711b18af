"""Where the archive lives: the Store protocol by URI scheme, the one boto3 client, the embedded SeaweedFS, the storage target."""

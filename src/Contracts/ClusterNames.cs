namespace InsideLLMs.Distributed.Contracts;

/// <summary>
/// The Orleans cluster identity the silo uses by default and the client assumes: a client with another ClusterId or
/// ServiceId is refused by every gateway.
/// </summary>
public static class ClusterNames
{
    /// <summary>Which silos belong together; a second local cluster would pick another.</summary>
    public const string ClusterId = "insidellms-local";

    /// <summary>Keys grain storage: stays the same across deployments so state survives a redeploy.</summary>
    public const string ServiceId = "insidellms";
}

using System.Reflection;

namespace InsideLLMs.Distributed.Tests.Processes;

/// <summary>Where the built silo is: the repository root (the folder holding the solution) and this build's configuration.</summary>
public static class RepositoryPaths
{
    public const string SolutionFile = "InsideLLMs.Distributed.sln";

    public static string Root()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, SolutionFile)))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No {SolutionFile} above {AppContext.BaseDirectory}.");
    }

    /// <summary>Debug or Release: the silo is run from the same configuration as the assembly asking.</summary>
    public static string Configuration(Assembly assembly) =>
        assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration is { Length: > 0 } configuration ? configuration : "Debug";

    /// <summary>The silo's entry assembly as <c>dotnet build</c> of the solution leaves it.</summary>
    public static string SiloAssembly(Assembly caller)
    {
        var path = Path.Combine(Root(), "src", "Silo", "bin", Configuration(caller), "net10.0", "linux-x64", "InsideLLMs.Distributed.Silo.dll");
        return File.Exists(path)
            ? path
            : throw new FileNotFoundException($"The silo is not built at {path}: build the solution ({SolutionFile}) in {Configuration(caller)} first.", path);
    }
}

//! Making a guest image from the user's files (`cargo xtask image RECIPE`): the registry asks
//! each guest OS whether the recipe is one of its own, and that OS makes the image.

use std::path::PathBuf;

use anyhow::{Result, bail};

use super::{Stage, registry};

/// What the user asked to make, and from what (each OS takes what its recipes need and
/// refuses the rest).
#[derive(Debug, Clone, Default)]
pub struct ImageInput {
    /// The recipe (`cargo xtask image RECIPE`).
    pub recipe: String,
    /// The build directory the image goes under.
    pub build_dir: PathBuf,
    /// A kernel: a package, a built tree or a bare kernel image.
    pub kernel: Option<PathBuf>,
    /// The name the made image goes by.
    pub name: Option<String>,
    /// A bare kernel's configuration.
    pub config: Option<PathBuf>,
    /// A bare kernel's installed modules.
    pub modules: Option<PathBuf>,
    /// The file an image is prepared from (a tarball, a disk image).
    pub from: Option<PathBuf>,
    /// A platform to add to the prepared image.
    pub platform: Option<PathBuf>,
}

/// Makes the image `input` asks for, by the first guest OS that takes its recipe; `say` hears progress and warnings. Returns what was made, a line at a
/// time (where it went, how to run it). A recipe no OS takes is an error naming every one.
pub fn make_image(input: &ImageInput, say: Stage<'_>) -> Result<Vec<String>> {
    for os in registry() {
        if let Some(made) = os.make_image(input, say) {
            return made;
        }
    }
    let recipes: Vec<String> =
        registry().iter().flat_map(|os| os.image_recipes()).map(|(r, what)| format!("'{r}' {what}")).collect();
    bail!("cargo xtask image: unknown image '{}'; {}", input.recipe, recipes.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(recipe: &str) -> String {
        let input = ImageInput { recipe: recipe.into(), build_dir: "/nonexistent".into(), ..ImageInput::default() };
        make_image(&input, &|_| {}).expect_err("nothing to make it from").to_string()
    }

    #[test]
    fn each_recipe_goes_to_its_os_and_an_unknown_one_names_them_all() {
        assert!(asked("linux").contains("needs --kernel"), "{}", asked("linux"));
        assert!(asked("coal").contains("needs --from"), "{}", asked("coal"));
        let unknown = asked("nonesuch");
        assert!(unknown.starts_with("cargo xtask image: unknown image 'nonesuch'; 'linux' "), "{unknown}");
        assert!(unknown.contains("'coal' ") && unknown.contains("'coal-stand-in' "), "{unknown}");
    }
}
